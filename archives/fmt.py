"""The two archive formats: an export (runs without this platform) and a backup (restores
into a new network here). Both are ``.tar.gz`` files written aside and renamed into place.

Backup (``backup.json`` first)::

    backup.json             manifest: format, install, tenant, network, height, app hash,
                            every file's size and SHA-256, the nodes and their key paths
    kdf.json                scrypt parameters and salt of the tenant's passphrase
    check.bin               AES-GCM of a fixed text: a wrong passphrase is told apart
                            from a damaged archive
    keys.bin                AES-GCM of every private key (node keys, validator keys, the
                            network's managed identities), the manifest as associated
                            data: a changed manifest fails the tag
    nodes/<index>/...       each node's home without its keys: config, genesis, chain data,
                            app state, copied while the node was stopped

Export: ``<dir>/README.md``, ``run.py``, ``run.sh``, ``network.json``, ``ledger/`` (the
network's pinned version) and ``nodes/<moniker>/`` (each home with its keys, in clear:
the README says so).

Django-free: workflows, tests and scripts use it alike.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

BACKUP_FORMAT = "baas-backup"
EXPORT_FORMAT = "baas-export"
FORMAT_VERSION = 1
MANIFEST = "backup.json"
KDF_FILE = "kdf.json"
CHECK_FILE = "check.bin"
KEYS_FILE = "keys.bin"
CHECK_TEXT = b"baas-backup passphrase check v1"
# scrypt: 2**15 x 8 x 1 is 32 MiB and about 0.1 s per derivation here: slow for guessing,
# quick for one restore.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 12
# Refuse members and totals past these while reading: a crafted archive cannot fill disks.
MAX_MEMBERS = 200_000
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# Unpacked bytes per archive byte: chain data and SQLite pages compress a few times, not a
# thousand (a gzip bomb does). The total itself is capped by the caller (a setting).
MAX_RATIO = 200
DEFAULT_MAX_TOTAL = 20 * 1024**3
# Only the two CometBFT key files are restored from ``keys.bin``: any other path there
# would become a file of the new node's home (its config, say) that nobody checked.
NODE_KEY_PATHS = ("cometbft/config/priv_validator_key.json", "cometbft/config/node_key.json")
# The ledger's organisation id pattern (ledger.system.identity.ORG_ID): also a file name in
# an export, so no "/" and no leading "." ever reach a path.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CHAIN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$"

# What read_manifest accepts: every field the restore uses, typed and bounded, so a
# crafted manifest is refused as damaged instead of failing later (a 500, a DataError).
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "version", "tenant_id", "chain_id", "height", "nodes", "files"],
    "properties": {
        "install_id": {"type": "string", "maxLength": 128},
        "tenant_id": {"type": "string", "maxLength": 64},
        "network_id": {"type": "string", "maxLength": 64},
        "network_name": {"type": "string", "maxLength": 63},
        "chain_id": {"type": "string", "pattern": CHAIN_ID_PATTERN},
        "ledger_version": {"type": "string", "pattern": r"^[0-9a-f]{0,16}$"},
        "driver": {"type": "string", "maxLength": 32},
        "public_access": {"type": "boolean"},
        "height": {"type": "integer", "minimum": 0},
        "app_hash": {"type": "string", "maxLength": 128},
        "nodes": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
            "type": "object", "required": ["index", "moniker", "keys"],
            "properties": {
                "index": {"type": "integer", "minimum": 0, "maximum": 1000},
                "moniker": {"type": "string", "pattern": ID_PATTERN},
                "height": {"type": "integer", "minimum": 0},
                "keys": {"type": "array", "maxItems": 16,
                         "items": {"type": "string", "maxLength": 255}}}}},
        "files": {"type": "object", "maxProperties": MAX_MEMBERS,
                  "additionalProperties": {
                      "type": "object", "required": ["size", "sha256"],
                      "properties": {"size": {"type": "integer", "minimum": 0},
                                     "sha256": {"type": "string",
                                                "pattern": r"^[0-9a-f]{64}$"}}}},
    },
}


class ArchiveError(Exception):
    """A backup archive that cannot be restored; ``code`` says why (``archive_corrupt``,
    ``archive_foreign``, ``wrong_passphrase``)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --- keys ----------------------------------------------------------------------------------


def derive_key(passphrase: str, salt: bytes, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
               p: int = SCRYPT_P) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _key_from(kdf_blob: bytes, passphrase: str) -> bytes:
    """The key of a backup from its ``kdf.json``. Only the parameters this platform writes
    are accepted: a crafted file must not choose how much memory and CPU a web request
    spends deriving (2**17 x 16 would be 256 MiB and seconds)."""
    try:
        kdf = json.loads(kdf_blob)
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = bytes.fromhex(kdf["salt"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveError("archive_corrupt", "The backup's key parameters are damaged.") from exc
    if kdf.get("kdf") != "scrypt" or (n, r, p) != (SCRYPT_N, SCRYPT_R, SCRYPT_P) \
            or len(salt) < 16:
        raise ArchiveError("archive_corrupt", "The backup's key parameters are out of bounds.")
    return derive_key(passphrase, salt, n=n, r=r, p=p)


def seal(key: bytes, plaintext: bytes, aad: bytes | None = None) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes | None = None) -> bytes:
    if len(blob) < 12 + 16:
        raise InvalidTag()
    return AESGCM(key).decrypt(blob[:12], blob[12:], aad)


# --- writing -------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def files_of(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not p.is_symlink())


def write_tar_gz(staging: Path, target: Path, *, prefix: str = "",
                 first: tuple[str, ...] = ()) -> tuple[int, str]:
    """Pack ``staging`` into ``target`` (aside, then renamed); ``first`` members lead, so a
    reader finds the manifest without reading the rest. Returns (size, sha256)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    names = files_of(staging)
    ordered = [n for n in first if n in names] + [n for n in names if n not in first]
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz",
                                                      compresslevel=6) as tar:
            for name in ordered:
                source = staging / name
                info = tar.gettarinfo(str(source), arcname=f"{prefix}{name}")
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o755 if name in ("run.py", "run.sh") else 0o600
                with open(source, "rb") as fh:
                    tar.addfile(info, fh)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target.stat().st_size, sha256_file(target)


@dataclass
class BackupNode:
    index: int
    moniker: str
    home: Path  # a copy of the node's home (export_node_home)
    height: int


def secret_paths(home: Path) -> list[str]:
    """Files of a home that hold private keys (as ``deploy.homes.is_secret`` sees them)."""
    return [rel for rel in files_of(home)
            if "key" in PurePosixPath(rel).name.lower() and not rel.endswith(".pub")]


def build_backup(*, staging: Path, target: Path, header: dict[str, Any],
                 nodes: list[BackupNode], identities: list[dict[str, Any]],
                 passphrase: str) -> tuple[int, str, dict[str, Any]]:
    """Write a backup archive of ``nodes`` (their homes already copied under ``staging``
    or anywhere) to ``target``. Returns (size, sha256, manifest)."""
    out = staging / "backup"
    keys: dict[str, Any] = {"nodes": {}, "identities": identities}
    manifest_nodes = []
    files: dict[str, dict[str, Any]] = {}
    for node in nodes:
        secret = set(secret_paths(node.home))
        keys["nodes"][str(node.index)] = {
            rel: base64.b64encode((node.home / rel).read_bytes()).decode() for rel in secret}
        dest = out / "nodes" / str(node.index)
        for rel in files_of(node.home):
            if rel in secret:
                continue
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(node.home / rel, dest / rel)
            member = f"nodes/{node.index}/{rel}"
            files[member] = {"size": (dest / rel).stat().st_size,
                             "sha256": sha256_file(dest / rel)}
        manifest_nodes.append({"index": node.index, "moniker": node.moniker,
                               "height": node.height, "keys": sorted(secret)})
    manifest = {"format": BACKUP_FORMAT, "version": FORMAT_VERSION, **header,
                "nodes": manifest_nodes, "files": files}
    manifest_bytes = json.dumps(manifest, sort_keys=True, indent=1).encode()
    salt = secrets.token_bytes(16)
    key = derive_key(passphrase, salt)
    (out / MANIFEST).write_bytes(manifest_bytes)
    (out / KDF_FILE).write_text(json.dumps({"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R,
                                            "p": SCRYPT_P, "salt": salt.hex()}))
    (out / CHECK_FILE).write_bytes(seal(key, CHECK_TEXT))
    (out / KEYS_FILE).write_bytes(seal(key, json.dumps(keys).encode(), manifest_bytes))
    size, digest = write_tar_gz(out, target, first=(MANIFEST, KDF_FILE, CHECK_FILE, KEYS_FILE))
    return size, digest, manifest


# --- reading -------------------------------------------------------------------------------


def _safe_member(name: str) -> str | None:
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts):
        return None
    return path.as_posix()


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of a backup archive, checked for format: ``archive_foreign`` for a
    file that is not one of our backups, ``archive_corrupt`` for one that cannot be read
    or whose manifest does not have the expected fields and types."""
    return _manifest(archive)[1]


def _manifest(archive: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST or not member.isfile() \
                    or member.size > MAX_MANIFEST_BYTES:
                raise ArchiveError("archive_foreign",
                                   "This file is not a backup made by this platform.")
            handle = tar.extractfile(member)
            data = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError("archive_corrupt",
                           f"The backup cannot be read (damaged or truncated): {exc}") from exc
    return data, _parse_manifest(data)


def _parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ArchiveError("archive_corrupt", "The backup's manifest is damaged.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise ArchiveError("archive_foreign", "This file is not a backup made by this platform.")
    if manifest.get("version") != FORMAT_VERSION:
        raise ArchiveError("archive_foreign",
                           f"Backup format version {manifest.get('version')!r} is not supported.")
    import jsonschema

    try:
        jsonschema.validate(manifest, MANIFEST_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "manifest"
        raise ArchiveError("archive_corrupt",
                           f"The backup's manifest is damaged ({where}).") from None
    if len({n["index"] for n in manifest["nodes"]}) != len(manifest["nodes"]):
        raise ArchiveError("archive_corrupt", "The backup's manifest lists a node twice.")
    return manifest


def read_head(stream: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the passphrase check of a backup read from a stream (an S3
    object's body), never further than the leading members: what ``read_manifest`` and
    ``check_passphrase`` check, for the price of a few kilobytes, before the whole archive
    is fetched. Returns the manifest and the members' bytes for ``check_head``."""
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            for member in tar:
                if not blobs and (member.name != MANIFEST or not member.isfile()
                                  or member.size > MAX_MANIFEST_BYTES):
                    raise ArchiveError("archive_foreign",
                                       "This file is not a backup made by this platform.")
                if member.name not in (MANIFEST, KDF_FILE, CHECK_FILE) \
                        or not member.isfile() or member.size > MAX_MANIFEST_BYTES:
                    break
                handle = tar.extractfile(member)
                blobs[member.name] = handle.read() if handle is not None else b""
                if len(blobs) == 3:
                    break
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError("archive_corrupt",
                           f"The backup cannot be read (damaged or truncated): {exc}") from exc
    if MANIFEST not in blobs:
        raise ArchiveError("archive_foreign", "This file is not a backup made by this platform.")
    return _parse_manifest(blobs[MANIFEST]), blobs


def check_head(blobs: dict[str, bytes], passphrase: str) -> None:
    """``check_passphrase`` on the members ``read_head`` returned."""
    if KDF_FILE not in blobs or CHECK_FILE not in blobs:
        raise ArchiveError("archive_corrupt", "The backup lacks its key parameters.")
    key = _key_from(blobs[KDF_FILE], passphrase)
    try:
        if unseal(key, blobs[CHECK_FILE]) != CHECK_TEXT:
            raise InvalidTag()
    except InvalidTag:
        raise ArchiveError("wrong_passphrase",
                           "The passphrase does not open this backup.") from None


@dataclass
class OpenedBackup:
    manifest: dict[str, Any]
    keys: dict[str, Any]  # {"nodes": {index: {path: b64}}, "identities": [...]}
    root: Path  # the unpacked archive: nodes/<index>/...

    def node_home(self, index: int) -> Path:
        return self.root / "nodes" / str(index)

    def node_keys(self, index: int) -> dict[str, bytes]:
        return {path: base64.b64decode(value)
                for path, value in self.keys["nodes"].get(str(index), {}).items()}


def check_size(archive: Path, manifest: dict[str, Any], into: Path, *,
               max_total: int = DEFAULT_MAX_TOTAL) -> int:
    """Refuse to unpack more than ``max_total`` bytes, more than ``MAX_RATIO`` times the
    archive, or more than the disk under ``into`` has free (a gzip bomb's sizes come from
    its own manifest). Returns the declared total."""
    total = sum(int(f["size"]) for f in manifest["files"].values())
    if total > max_total or total > MAX_RATIO * max(archive.stat().st_size, 1):
        raise ArchiveError("archive_too_large",
                           f"The backup unpacks to {total} bytes, more than this platform "
                           "accepts.")
    into.mkdir(parents=True, exist_ok=True, mode=0o700)
    if shutil.disk_usage(into).free < total + (64 << 20):
        raise ArchiveError("archive_too_large",
                           f"Not enough free disk to unpack the backup ({total} bytes).")
    return total


def open_backup(archive: Path, passphrase: str, into: Path, *,
                max_total: int = DEFAULT_MAX_TOTAL) -> OpenedBackup:
    """Unpack and check a backup: every member named in the manifest with its size and
    hash, nothing else, each name once, the keys opened with ``passphrase`` and the very
    manifest bytes that listed the files as associated data. Raises ``ArchiveError``."""
    manifest_bytes, manifest = _manifest(archive)
    expected: dict[str, dict[str, Any]] = manifest["files"]
    budget = check_size(archive, manifest, into, max_total=max_total)
    blobs: dict[str, bytes] = {}
    seen: set[str] = set()
    written = 0
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for count, member in enumerate(tar):
                if count > MAX_MEMBERS:
                    raise ArchiveError("archive_corrupt", "The backup has too many files.")
                name = _safe_member(member.name)
                if name is None or not member.isfile():
                    raise ArchiveError("archive_corrupt",
                                       f"The backup holds an unexpected entry {member.name!r}.")
                # A second member of one name would let the checked copy differ from the
                # used one (a second backup.json after keys.bin changed the tag's input).
                if name in seen or name in blobs:
                    raise ArchiveError("archive_corrupt",
                                       f"The backup holds {name} twice.")
                handle = tar.extractfile(member)
                if handle is None:
                    raise ArchiveError("archive_corrupt", f"{name} cannot be read.")
                if name in (MANIFEST, KDF_FILE, CHECK_FILE, KEYS_FILE):
                    blobs[name] = handle.read(MAX_MANIFEST_BYTES * 8)
                    continue
                want = expected.get(name)
                if want is None or member.size != want.get("size"):
                    raise ArchiveError("archive_corrupt",
                                       f"The backup holds {name}, which its manifest does not "
                                       "list (or with another size).")
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                digest = hashlib.sha256()
                with open(target, "wb") as out:
                    for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                        written += len(chunk)
                        if written > budget:  # never trust the sizes alone
                            raise ArchiveError("archive_corrupt",
                                               "The backup holds more than its manifest lists.")
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != want.get("sha256"):
                    raise ArchiveError("archive_corrupt", f"{name} is damaged (hash differs).")
                seen.add(name)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArchiveError("archive_corrupt",
                           f"The backup cannot be read (damaged or truncated): {exc}") from exc
    missing = sorted(set(expected) - seen)
    if missing or set(blobs) != {MANIFEST, KDF_FILE, CHECK_FILE, KEYS_FILE}:
        raise ArchiveError("archive_corrupt",
                           f"The backup is incomplete (truncated?): {len(missing)} file(s) "
                           "missing.")
    if blobs[MANIFEST] != manifest_bytes:
        raise ArchiveError("archive_corrupt", "The backup's manifest was altered.")
    key = _key_from(blobs[KDF_FILE], passphrase)
    try:
        if unseal(key, blobs[CHECK_FILE]) != CHECK_TEXT:
            raise InvalidTag()
    except InvalidTag:
        raise ArchiveError("wrong_passphrase",
                           "The passphrase does not open this backup.") from None
    try:
        keys = json.loads(unseal(key, blobs[KEYS_FILE], manifest_bytes))
    except (InvalidTag, ValueError):
        raise ArchiveError("archive_corrupt",
                           "The backup's keys or manifest were altered.") from None
    return OpenedBackup(manifest=manifest, keys=keys, root=into)


def check_passphrase(archive: Path, passphrase: str) -> None:
    """Open only the leading members (manifest, kdf, check): a wrong passphrase is refused
    at once, before a long unpack."""
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                if member.name not in (MANIFEST, KDF_FILE, CHECK_FILE) or not member.isfile():
                    break
                handle = tar.extractfile(member)
                blobs[member.name] = handle.read(MAX_MANIFEST_BYTES) if handle else b""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError("archive_corrupt",
                           f"The backup cannot be read (damaged or truncated): {exc}") from exc
    check_head(blobs, passphrase)
