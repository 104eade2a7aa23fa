"""Bundle loading: directories, archives and their limits, the content hash."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from sectors import bundle as bundle_mod
from sectors.bundle import (
    BundleError,
    content_hash,
    load_archive,
    load_dir,
    pack_dir,
    pack_files,
    parse_version,
)
from sectors.tests.bundles import CONTRACT, MANIFEST, write_bundle

FILES = {"manifest.toml": MANIFEST.encode(), "contract.py": CONTRACT.encode()}


def tar_gz(members: list[tuple[str, bytes] | tarfile.TarInfo]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return buf.getvalue()


def zip_bytes(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buf.getvalue()


def codes(exc_info: pytest.ExceptionInfo[BundleError]) -> list[str]:
    return [p.code for p in exc_info.value.problems]


BASE = [("manifest.toml", FILES["manifest.toml"]), ("contract.py", FILES["contract.py"])]


# -- hash ----------------------------------------------------------------------------------
def test_content_hash_follows_the_documented_formula() -> None:
    expected = hashlib.sha256()
    for path in sorted(FILES):
        expected.update(path.encode() + b"\0" + hashlib.sha256(FILES[path]).hexdigest().encode()
                        + b"\n")
    assert content_hash(FILES) == expected.hexdigest()


def test_content_hash_is_stable_and_content_sensitive() -> None:
    reordered = dict(reversed(list(FILES.items())))
    assert content_hash(reordered) == content_hash(FILES)
    changed = dict(FILES, **{"contract.py": FILES["contract.py"] + b"\n"})
    assert content_hash(changed) != content_hash(FILES)
    renamed = {"manifest.toml": FILES["manifest.toml"], "contract2.py": FILES["contract.py"]}
    assert content_hash(renamed) != content_hash(FILES)
    assert content_hash(dict(FILES, **{"tests/a.py": b""})) != content_hash(FILES)


# -- directories ---------------------------------------------------------------------------
def test_load_dir_reads_the_bundle_files_only(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b")
    (root / "README.md").write_text("not part of the bundle")
    (root / ".hidden").write_text("x")
    (root / "tests" / "__pycache__").mkdir()
    (root / "tests" / "__pycache__" / "t.cpython-311.pyc").write_bytes(b"\0")
    (root / "tests" / "helper.pyc").write_bytes(b"\0")
    (root / "tests" / "data").mkdir()
    (root / "tests" / "data" / "x.json").write_text("{}")
    bundle = load_dir(root)
    assert sorted(bundle.files) == ["contract.py", "manifest.toml", "tests/data/x.json",
                                    "tests/test_contract.py"]
    assert (bundle.name, bundle.version) == ("donations", "1.0.0")
    assert bundle.manifest is not None and bundle.manifest["sector"] == "donation"
    assert bundle.content_hash == content_hash(bundle.files)


def test_load_dir_refuses_symlinks(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b")
    (tmp_path / "secret").write_text("s")
    (root / "tests" / "link.py").symlink_to(tmp_path / "secret")
    with pytest.raises(BundleError) as exc:
        load_dir(root)
    assert codes(exc) == ["archive_unsafe_path"]
    assert exc.value.problems[0].path == "tests/link.py"


def test_load_dir_missing_manifest_and_contract(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError) as exc:
        load_dir(tmp_path / "empty")
    assert codes(exc) == ["manifest_missing", "contract_missing"]


def test_a_manifest_that_is_not_toml_still_loads(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", manifest="name = ")
    bundle = load_dir(root)
    assert bundle.manifest is None and bundle.name == ""


# -- archives ------------------------------------------------------------------------------
def test_pack_dir_round_trips_with_the_same_hash(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b")
    packed = pack_dir(root)
    assert packed == pack_dir(root)  # deterministic bytes
    assert load_archive(packed).content_hash == load_dir(root).content_hash


def test_zip_archive_loads() -> None:
    bundle = load_archive(zip_bytes(list(BASE) + [("tests/test_x.py", b"pass\n")]))
    assert sorted(bundle.files) == ["contract.py", "manifest.toml", "tests/test_x.py"]


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
def test_a_single_top_level_directory_is_stripped(pack) -> None:  # noqa: ANN001
    members = [(f"donations-1.0.0/{name}", data) for name, data in BASE]
    members.append(("donations-1.0.0/tests/test_x.py", b""))
    members.append(("donations-1.0.0/.DS_Store", b""))
    bundle = load_archive(pack(members))
    assert sorted(bundle.files) == ["contract.py", "manifest.toml", "tests/test_x.py"]
    assert bundle.content_hash == content_hash(
        {"manifest.toml": BASE[0][1], "contract.py": BASE[1][1], "tests/test_x.py": b""})


def test_dot_slash_paths_and_macos_litter_are_fine() -> None:
    members = [(f"./{name}", data) for name, data in BASE] + [("__MACOSX/._contract.py", b"x")]
    bundle = load_archive(zip_bytes(members))
    assert sorted(bundle.files) == ["contract.py", "manifest.toml"]


def test_two_top_level_directories_are_not_stripped() -> None:
    with pytest.raises(BundleError) as exc:
        load_archive(tar_gz([("a/manifest.toml", BASE[0][1]), ("b/contract.py", BASE[1][1])]))
    assert codes(exc) == ["manifest_missing", "contract_missing"]


def test_archive_too_large_compressed() -> None:
    data = b"\x1f\x8b" + b"\0" * bundle_mod.MAX_ARCHIVE_BYTES
    with pytest.raises(BundleError) as exc:
        load_archive(data)
    assert codes(exc) == ["archive_too_large"]


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
def test_archive_too_large_uncompressed(pack) -> None:  # noqa: ANN001
    big = b"\0" * (bundle_mod.MAX_TOTAL_BYTES + 1)  # compresses to a few KiB
    data = pack(list(BASE) + [("tests/big.bin", big)])
    assert len(data) < 64 * 1024
    with pytest.raises(BundleError) as exc:
        load_archive(data)
    assert codes(exc) == ["archive_too_large"]


def test_many_small_files_that_add_up_are_too_large() -> None:
    chunk = b"\0" * (bundle_mod.MAX_TOTAL_BYTES // 8)
    data = zip_bytes(list(BASE) + [(f"tests/f{i}.bin", chunk) for i in range(9)])
    with pytest.raises(BundleError) as exc:
        load_archive(data)
    assert codes(exc) == ["archive_too_large"]


def test_zip_header_sizes_are_not_trusted() -> None:
    big = b"\0" * (bundle_mod.MAX_TOTAL_BYTES + 1)
    data = bytearray(zip_bytes(list(BASE) + [("tests/big.bin", big)]))
    name = b"tests/big.bin"
    at = data.find(name)
    while at != -1:  # local header: name at +30, size at +22; central: +46 and +24
        for header, sig, size_at in ((at - 30, b"PK\x03\x04", 22), (at - 46, b"PK\x01\x02", 24)):
            if data[header:header + 4] == sig:
                data[header + size_at:header + size_at + 4] = (10).to_bytes(4, "little")
        at = data.find(name, at + 1)
    with pytest.raises(BundleError) as exc:
        load_archive(bytes(data))  # the headers say 10 bytes: it is read as it comes
    assert codes(exc) in (["archive_too_large"], ["archive_invalid"])


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
def test_archive_too_many_files(pack) -> None:  # noqa: ANN001
    members = list(BASE) + [(f"tests/t{i}.py", b"") for i in range(bundle_mod.MAX_FILES - 1)]
    with pytest.raises(BundleError) as exc:
        load_archive(pack(members))
    assert codes(exc) == ["archive_too_many_files"]
    assert load_archive(pack(members[:-1])).files  # 64 files are fine


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
@pytest.mark.parametrize("name", ["../x", "tests/../../x", "/etc/passwd", "C:/x",
                                  "tests\\x.py"])
def test_unsafe_paths(pack, name: str) -> None:  # noqa: ANN001
    with pytest.raises(BundleError) as exc:
        load_archive(pack(list(BASE) + [(name, b"x")]))
    assert codes(exc) == ["archive_unsafe_path"]
    assert exc.value.problems[0].path == name


def test_every_unsafe_path_is_listed() -> None:
    with pytest.raises(BundleError) as exc:
        load_archive(tar_gz(list(BASE) + [("../a", b""), ("/b", b"")]))
    assert [p.path for p in exc.value.problems] == ["../a", "/b"]


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                                  tarfile.FIFOTYPE])
def test_links_and_devices_in_tar_are_refused(kind: bytes) -> None:
    link = tarfile.TarInfo("tests/link.py")
    link.type = kind
    link.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "manifest.toml"
    with pytest.raises(BundleError) as exc:
        load_archive(tar_gz(list(BASE) + [link]))
    assert codes(exc) == ["archive_unsafe_path"]


def test_symlink_in_zip_is_refused() -> None:
    info = zipfile.ZipInfo("tests/link.py")
    info.external_attr = (0o120777 << 16)
    with pytest.raises(BundleError) as exc:
        load_archive(zip_bytes(list(BASE) + [(info, b"/etc/passwd")]))
    assert codes(exc) == ["archive_unsafe_path"]


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
def test_duplicate_paths_are_refused(pack) -> None:  # noqa: ANN001
    with pytest.raises(BundleError) as exc:
        load_archive(pack(list(BASE) + [("./contract.py", b"@read\ndef x(ctx):\n    pass\n")]))
    assert codes(exc) == ["archive_unsafe_path"]
    assert "duplicate" in exc.value.problems[0].message


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
def test_missing_manifest_and_contract(pack) -> None:  # noqa: ANN001
    with pytest.raises(BundleError) as exc:
        load_archive(pack([("tests/t.py", b"")]))
    assert codes(exc) == ["manifest_missing", "contract_missing"]
    with pytest.raises(BundleError) as exc:
        load_archive(pack([BASE[0]]))
    assert codes(exc) == ["contract_missing"]


@pytest.mark.parametrize("data", [b"", b"not an archive", b"\x1f\x8bgarbage",
                                  gzip.compress(b"not a tar" * 100),
                                  b"PK\x03\x04garbage", tar_gz(BASE)[:-20]])
def test_invalid_archives(data: bytes) -> None:
    with pytest.raises(BundleError) as exc:
        load_archive(data)
    assert codes(exc) == ["archive_invalid"]


def test_pack_files_is_what_load_archive_reads() -> None:
    assert load_archive(pack_files(FILES)).files == FILES


def test_parse_version() -> None:
    assert parse_version("1.2.3") == (1, 2, 3)
    assert parse_version("0.10.0") > parse_version("0.9.9")
    for bad in ("1.2", "1.2.3.4", "01.2.3", "v1.2.3", "1.2.x", "", None):
        with pytest.raises(ValueError):
            parse_version(bad)  # type: ignore[arg-type]
