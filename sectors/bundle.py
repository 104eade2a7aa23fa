"""Template bundles: load one from a directory or an uploaded archive, and hash it.

A bundle is ``manifest.toml``, ``contract.py`` and ``tests/**`` (docs/templates.md); any
other file of the directory or archive is ignored, and so are ``__pycache__``, ``*.pyc``,
dotfiles and ``__MACOSX``. Its identity is ``content_hash(files)``.

Archives come from tenants: ``load_archive`` refuses anything it cannot read safely
(sizes are counted while decompressing, never taken from headers; no links, devices,
absolute or ``..`` paths, duplicates) and reports every problem it can see as a ``Problem``
inside one ``BundleError``. Pure Python, no Django: used by ``baasctl`` and the app alike.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
import tomllib
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MAX_ARCHIVE_BYTES = 1024 * 1024  # compressed upload
MAX_TOTAL_BYTES = 4 * 1024 * 1024  # all file contents, uncompressed
MAX_FILES = 64
MAX_MEMBERS = 512  # tar/zip entries of any kind (directories included)
MAX_PATH = 200
# A tar stream is its files plus 512-byte headers, padding and long-name/PAX records.
TAR_OVERHEAD = 512 * 1024
CHUNK = 64 * 1024

MANIFEST = "manifest.toml"
CONTRACT = "contract.py"
IGNORED_NAMES = frozenset({"__pycache__", "__MACOSX"})
VERSION = re.compile(r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$")


@dataclass(frozen=True)
class Problem:
    """One problem with a bundle: a stable ``code`` (docs/templates.md), a message, and
    where: a file path, or a JSON path into the manifest (``$.functions[0].kind``)."""

    code: str
    message: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "path": self.path}

    def __str__(self) -> str:
        return f"{self.code} {self.path}: {self.message}" if self.path else \
            f"{self.code}: {self.message}"


class BundleError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Bundle:
    name: str  # "" when the manifest cannot be read (validation says why)
    version: str
    manifest: dict[str, Any] | None  # None when manifest.toml is not valid UTF-8 TOML
    contract: str  # contract.py (undecodable bytes replaced; validation refuses them)
    files: dict[str, bytes] = field(repr=False)
    content_hash: str = ""

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> Bundle:
        """A bundle from its files (paths already checked); BundleError if the manifest or
        the contract is missing."""
        problems = []
        if MANIFEST not in files:
            problems.append(Problem("manifest_missing", f"the bundle has no {MANIFEST}"))
        if CONTRACT not in files:
            problems.append(Problem("contract_missing", f"the bundle has no {CONTRACT}"))
        if problems:
            raise BundleError(problems)
        manifest = parse_manifest(files[MANIFEST])
        name = version = ""
        if manifest is not None:
            name = manifest["name"] if isinstance(manifest.get("name"), str) else ""
            version = manifest["version"] if isinstance(manifest.get("version"), str) else ""
        return cls(name=name, version=version, manifest=manifest,
                   contract=files[CONTRACT].decode("utf-8", "replace"), files=dict(files),
                   content_hash=content_hash(files))


MAX_MANIFEST_DEPTH = 32


def nesting_depth(value: Any, limit: int = MAX_MANIFEST_DEPTH) -> int:
    """How deep ``value`` nests (lists and tables), counted without recursion and stopping
    once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def parse_manifest(data: bytes) -> dict[str, Any] | None:
    """The manifest as a dict; None when it is not UTF-8 TOML or nests deeper than
    MAX_MANIFEST_DEPTH (tomllib recurses per level: thousands of ``[[`` exhaust the
    stack)."""
    try:
        manifest = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    return manifest if nesting_depth(manifest) <= MAX_MANIFEST_DEPTH else None


def content_hash(files: dict[str, bytes]) -> str:
    """SHA-256 over ``path NUL sha256hex(content) LF`` for every file in path order."""
    outer = hashlib.sha256()
    for path in sorted(files):
        outer.update(f"{path}\0{hashlib.sha256(files[path]).hexdigest()}\n".encode())
    return outer.hexdigest()


def parse_version(version: str) -> tuple[int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; ValueError unless MAJOR.MINOR.PATCH digits."""
    match = VERSION.match(version) if isinstance(version, str) else None
    if not match:
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def ignored(path: str) -> bool:
    """Files a bundle never contains: caches, dotfiles, macOS archive litter."""
    parts = path.split("/")
    return (any(p.startswith(".") or p in IGNORED_NAMES for p in parts)
            or path.endswith(".pyc"))


def in_bundle(path: str) -> bool:
    """The files that make a bundle (the rest of a directory or archive is ignored)."""
    return path in (MANIFEST, CONTRACT) or (path.startswith("tests/") and not ignored(path))


# -- directories ---------------------------------------------------------------------------
def load_dir(path: str | os.PathLike[str]) -> Bundle:
    """Read a bundle directory; the same limits as an archive apply (BundleError)."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError([Problem("manifest_missing", f"{root} is not a directory")])
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not ignored(d))
        for name in sorted(filenames):
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            if ignored(rel) or not in_bundle(rel):
                continue
            mode = full.lstat().st_mode
            if not stat.S_ISREG(mode):
                problems.append(Problem("archive_unsafe_path",
                                        "not a regular file (links are not allowed)", rel))
                continue
            if len(files) >= MAX_FILES:
                raise BundleError([Problem("archive_too_many_files",
                                           f"a bundle holds at most {MAX_FILES} files")])
            data = full.read_bytes()
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                raise BundleError([Problem("archive_too_large",
                                           f"the files exceed {MAX_TOTAL_BYTES} bytes")])
            files[rel] = data
        # links to directories are listed in dirnames and never followed: report them
        for d in dirnames:
            full = Path(dirpath, d)
            rel = full.relative_to(root).as_posix()
            if full.is_symlink() and in_bundle(rel + "/"):
                problems.append(Problem("archive_unsafe_path", "links are not allowed", rel))
    if problems:
        raise BundleError(problems)
    return Bundle.from_files(files)


def pack_dir(path: str | os.PathLike[str]) -> bytes:
    """The bundle directory as a deterministic .tar.gz (what ``baasctl upload`` sends)."""
    return pack_files(load_dir(path).files)


def pack_files(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    # mtime 0 in the gzip header and the members: same files, same bytes
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel in sorted(files):
            info = tarfile.TarInfo(rel)
            info.size = len(files[rel])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[rel]))
    return buf.getvalue()


# -- archives ------------------------------------------------------------------------------
def load_archive(data: bytes) -> Bundle:
    """A bundle from a ``.tar.gz``/``.tgz`` or ``.zip`` upload (detected by magic bytes)."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise BundleError([Problem("archive_too_large",
                                   f"the archive exceeds {MAX_ARCHIVE_BYTES} bytes")])
    if data[:2] == b"\x1f\x8b":
        raw = _read_tar_gz(data)
    elif data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        raw = _read_zip(data)
    else:
        raise BundleError([Problem("archive_invalid",
                                   "not a .tar.gz or .zip archive")])
    return Bundle.from_files(_arrange(raw))


class _Budget:
    """Counts files and bytes as they are read, whatever the headers claim."""

    def __init__(self) -> None:
        self.files = 0
        self.members = 0
        self.total = 0

    def member(self) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise BundleError([Problem("archive_too_many_files",
                                       f"the archive has more than {MAX_MEMBERS} entries")])

    def file(self) -> None:
        self.files += 1
        if self.files > MAX_FILES:
            raise BundleError([Problem("archive_too_many_files",
                                       f"a bundle holds at most {MAX_FILES} files")])

    def read(self, stream: Any) -> bytes:
        out = bytearray()
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return bytes(out)
            self.total += len(chunk)
            if self.total > MAX_TOTAL_BYTES:
                raise BundleError([Problem(
                    "archive_too_large",
                    f"the files exceed {MAX_TOTAL_BYTES} bytes uncompressed")])
            out += chunk


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress one gzip member, refusing more than ``limit`` bytes of output."""
    inflater = zlib.decompressobj(wbits=31)
    out = bytearray()
    pending = data
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, CHUNK)
            out += chunk
            if len(out) > limit:
                raise BundleError([Problem(
                    "archive_too_large",
                    f"the archive exceeds {MAX_TOTAL_BYTES} bytes uncompressed")])
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                raise BundleError([Problem("archive_invalid", "the gzip stream is truncated")])
    except zlib.error as exc:
        raise BundleError([Problem("archive_invalid", f"not a valid gzip stream: {exc}")]) \
            from None
    return bytes(out)


def _read_tar_gz(data: bytes) -> list[tuple[str, bytes]]:
    tar_bytes = _gunzip(data, MAX_TOTAL_BYTES + TAR_OVERHEAD)
    budget = _Budget()
    problems: list[Problem] = []
    out: list[tuple[str, bytes]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            while (member := tar.next()) is not None:
                budget.member()
                name = member.name
                if member.isdir():
                    if (problem := _unsafe(name.rstrip("/") or name)) is not None:
                        problems.append(problem)
                    continue
                if not member.isreg():
                    kind = ("symlink" if member.issym() else "hard link" if member.islnk()
                            else "device or special file")
                    problems.append(Problem("archive_unsafe_path",
                                            f"a {kind} is not allowed in a bundle", name))
                    continue
                if (problem := _unsafe(name)) is not None:
                    problems.append(problem)
                    continue
                budget.file()
                stream = tar.extractfile(member)
                if stream is None:  # pragma: no cover - isreg() members always have one
                    problems.append(Problem("archive_invalid", "unreadable member", name))
                    continue
                out.append((name, budget.read(stream)))
    except (tarfile.TarError, ValueError, EOFError, OSError) as exc:
        raise BundleError([Problem("archive_invalid", f"not a valid tar archive: {exc}")]) \
            from None
    if problems:
        raise BundleError(problems)
    return out


def _read_zip(data: bytes) -> list[tuple[str, bytes]]:
    budget = _Budget()
    problems: list[Problem] = []
    out: list[tuple[str, bytes]] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                budget.member()
                name = info.filename
                mode = info.external_attr >> 16
                if info.is_dir():
                    if (problem := _unsafe(name.rstrip("/") or name)) is not None:
                        problems.append(problem)
                    continue
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no Unix mode recorded
                    problems.append(Problem("archive_unsafe_path",
                                            "links and special files are not allowed", name))
                    continue
                if (problem := _unsafe(name)) is not None:
                    problems.append(problem)
                    continue
                if info.flag_bits & 0x1:
                    problems.append(Problem("archive_invalid", "encrypted member", name))
                    continue
                budget.file()
                with archive.open(info) as stream:
                    out.append((name, budget.read(stream)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            zlib.error, ValueError, OSError) as exc:
        raise BundleError([Problem("archive_invalid", f"not a valid zip archive: {exc}")]) \
            from None
    if problems:
        raise BundleError(problems)
    return out


def _unsafe(name: str) -> Problem | None:
    """Why an archive path is refused, or None: only plain relative paths."""
    reason = None
    if not name or len(name) > MAX_PATH:
        reason = f"paths are 1..{MAX_PATH} characters"
    elif any(c in name for c in "\\\0") or any(ord(c) < 32 for c in name):
        reason = "backslashes and control characters are not allowed in paths"
    elif name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        reason = "absolute paths are not allowed"
    elif ".." in PurePosixPath(name).parts:
        reason = "'..' is not allowed in paths"
    return Problem("archive_unsafe_path", reason, name) if reason else None


def _normal(name: str) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _arrange(raw: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Normalise paths, refuse duplicates, drop ignored files, strip one top-level
    directory if every file is inside it, keep the bundle's files."""
    seen: dict[str, bytes] = {}
    problems = []
    for name, data in raw:
        path = _normal(name)
        if path in seen:
            problems.append(Problem("archive_unsafe_path", "duplicate path in the archive",
                                    path))
            continue
        seen[path] = data
    if problems:
        raise BundleError(problems)
    kept = {p: d for p, d in seen.items() if p and not ignored(p)}
    tops = {p.split("/", 1)[0] for p in kept}
    if len(tops) == 1 and all("/" in p for p in kept):
        top = tops.pop() + "/"
        kept = {p[len(top):]: d for p, d in kept.items()}
    return {p: d for p, d in kept.items() if in_bundle(p)}
