"""The backup format refuses what it cannot restore faithfully: a wrong passphrase, a
truncated or damaged file, a changed manifest, a file that is not a backup, a path
leaving the archive."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from archives import fmt
from archives.tests.helpers import make_backup

PASS = "a long passphrase"


@pytest.fixture
def backup(tmp_path):
    target = tmp_path / "b.tar.gz"
    make_backup(target, tenant_id="t1", validators=2)
    return target


def _code(call) -> str:
    with pytest.raises(fmt.ArchiveError) as info:
        call()
    return info.value.code


def _rewrite(source, target, change) -> None:
    """Copy a backup member by member, ``change(name, data)`` returning new bytes."""
    with tarfile.open(source) as tar_in, tarfile.open(target, "w:gz") as tar_out:
        for member in tar_in:
            data = tar_in.extractfile(member).read()
            data = change(member.name, data)
            member.size = len(data)
            tar_out.addfile(member, io.BytesIO(data))


def test_a_backup_opens_with_its_passphrase_keys_apart_from_the_data(backup, tmp_path):
    opened = fmt.open_backup(backup, PASS, tmp_path / "out")
    assert opened.manifest["chain_id"] == "c-1" and len(opened.manifest["nodes"]) == 2
    keys = opened.node_keys(1)
    assert set(keys) == {"cometbft/config/priv_validator_key.json",
                         "cometbft/config/node_key.json"}
    assert keys["cometbft/config/node_key.json"] == b'{"priv_key": "secret node"}'
    home = opened.node_home(1)
    assert (home / "cometbft/data/priv_validator_state.json").is_file()
    assert not (home / "cometbft/config/node_key.json").exists()
    # No key is readable in the archive without the passphrase.
    raw = gzip.decompress(backup.read_bytes())
    assert b"secret validator" not in raw and b"secret node" not in raw


def test_a_wrong_passphrase_is_told_apart(backup, tmp_path):
    assert _code(lambda: fmt.check_passphrase(backup, "another passphrase")) == \
        "wrong_passphrase"
    assert _code(lambda: fmt.open_backup(backup, "another passphrase", tmp_path / "o")) == \
        "wrong_passphrase"


def test_a_truncated_backup_is_corrupt(backup, tmp_path):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(backup.read_bytes()[: backup.stat().st_size * 2 // 3])
    assert _code(lambda: fmt.open_backup(cut, PASS, tmp_path / "o")) == "archive_corrupt"


def test_a_changed_data_file_is_corrupt(backup, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    _rewrite(backup, bad, lambda name, data: data.replace(b"blocks", b"BLOCKS")
             if name.endswith("000001.log") else data)
    assert _code(lambda: fmt.open_backup(bad, PASS, tmp_path / "o")) == "archive_corrupt"


def test_a_changed_manifest_fails_the_keys_tag(backup, tmp_path):
    bad = tmp_path / "bad.tar.gz"

    def change(name, data):
        if name != fmt.MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["height"] = 1_000_000
        return json.dumps(manifest, sort_keys=True, indent=1).encode()

    _rewrite(backup, bad, change)
    assert _code(lambda: fmt.open_backup(bad, PASS, tmp_path / "o")) == "archive_corrupt"


def test_files_that_are_not_backups_are_foreign(tmp_path):
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        data = b"hello"
        info = tarfile.TarInfo("README.md")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert _code(lambda: fmt.read_manifest(other)) == "archive_foreign"
    text = tmp_path / "text.tar.gz"
    text.write_bytes(b"not even gzip")
    assert _code(lambda: fmt.read_manifest(text)) == "archive_corrupt"
    export_like = tmp_path / "export.tar.gz"
    with tarfile.open(export_like, "w:gz") as tar:
        data = json.dumps({"format": fmt.EXPORT_FORMAT}).encode()
        info = tarfile.TarInfo(fmt.MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert _code(lambda: fmt.read_manifest(export_like)) == "archive_foreign"


def test_an_entry_leaving_the_archive_is_refused(backup, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(backup) as tar_in, tarfile.open(bad, "w:gz") as tar_out:
        for member in tar_in:
            tar_out.addfile(member, tar_in.extractfile(member))
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar_out.addfile(info, io.BytesIO(b"x"))
    assert _code(lambda: fmt.open_backup(bad, PASS, tmp_path / "o")) == "archive_corrupt"
    assert not (tmp_path / "escape").exists()


def test_crafted_key_parameters_are_refused(backup, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    _rewrite(backup, bad, lambda name, data: json.dumps(
        {"kdf": "scrypt", "n": 2**30, "r": 8, "p": 1, "salt": "00"}).encode()
        if name == fmt.KDF_FILE else data)
    assert _code(lambda: fmt.check_passphrase(bad, PASS)) == "archive_corrupt"
