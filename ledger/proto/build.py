"""Generate Python protobuf modules from CometBFT's own ``.proto`` files.

The proto tree is read from the Go module cache (``go env GOMODCACHE``); when the pinned
modules are missing they are fetched with ``go mod download``. Without Go, point
``COMETBFT_PROTO_DIR`` at a checkout of ``cometbft/proto`` and ``GOGOPROTO_DIR`` at a
checkout of ``cosmos/gogoproto`` (see docs/ledger.md).

Generated modules use absolute imports (``from tendermint.crypto import ...``); we rewrite
them to ``ledger.proto.gen.…`` so the generated tree never lands on ``sys.path`` top level.
The run is idempotent: a stamp of the inputs makes a second run a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMETBFT_VERSION = "v0.38.26"
GOGOPROTO_VERSION = "v1.7.0"  # what cometbft v0.38.26's go.mod requires
# Proto packages we need: abci/types.proto and its transitive imports.
PROTO_DIRS = ("tendermint/abci", "tendermint/crypto", "tendermint/types", "tendermint/version")
GEN_DIR = Path(__file__).resolve().parent / "gen"
STAMP = GEN_DIR / ".stamp"
_IMPORT_RE = re.compile(r"^(from|import) (tendermint|gogoproto)([. ])", re.MULTILINE)


class ProtoBuildError(RuntimeError):
    pass


def _go(*args: str) -> str:
    if shutil.which("go") is None:
        raise ProtoBuildError(
            "Go is not installed: set COMETBFT_PROTO_DIR and GOGOPROTO_DIR to the proto trees "
            "(see docs/ledger.md, 'Protocol generation without Go')"
        )
    done = subprocess.run(["go", *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise ProtoBuildError(f"go {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _module_dir(module: str, version: str) -> Path:
    """Return the module's folder in the Go module cache, downloading it if missing."""
    cache = Path(os.environ.get("GOMODCACHE") or _go("env", "GOMODCACHE"))
    # The module cache escapes upper-case letters as '!' + lower case.
    escaped = re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)
    path = cache / f"{escaped}@{version}"
    if not path.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            # `go mod download` of an explicit version works outside any module.
            subprocess.run(["go", "mod", "init", "protofetch"], cwd=tmp, capture_output=True)
            done = subprocess.run(
                ["go", "mod", "download", f"{module}@{version}"],
                cwd=tmp, capture_output=True, text=True, timeout=600,
            )
            if done.returncode != 0 or not path.is_dir():
                raise ProtoBuildError(f"cannot download {module}@{version}: {done.stderr.strip()}")
    return path


def proto_roots() -> tuple[Path, Path]:
    """(cometbft proto root, gogoproto root) from env overrides or the Go module cache."""
    cmt = os.environ.get("COMETBFT_PROTO_DIR")
    gogo = os.environ.get("GOGOPROTO_DIR")
    if cmt:
        cmt_root = Path(cmt)
    else:
        cmt_root = _module_dir("github.com/cometbft/cometbft", COMETBFT_VERSION) / "proto"
    if gogo:
        gogo_root = Path(gogo)
    else:
        gogo_root = _module_dir("github.com/cosmos/gogoproto", GOGOPROTO_VERSION)
    probes = ((cmt_root, "tendermint/abci/types.proto"), (gogo_root, "gogoproto/gogo.proto"))
    for root, probe in probes:
        if not (root / probe).is_file():
            raise ProtoBuildError(f"{root / probe} not found")
    return cmt_root, gogo_root


def _sources(cmt_root: Path) -> list[str]:
    files: list[str] = []
    for sub in PROTO_DIRS:
        files += sorted(str(p.relative_to(cmt_root)) for p in (cmt_root / sub).glob("*.proto"))
    return files


def _fingerprint(cmt_root: Path, gogo_root: Path, files: list[str]) -> str:
    import grpc_tools

    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(getattr(grpc_tools, "__version__", "").encode())
    for rel in files:
        digest.update(rel.encode() + (cmt_root / rel).read_bytes())
    digest.update((gogo_root / "gogoproto/gogo.proto").read_bytes())
    return digest.hexdigest()


def build(force: bool = False) -> Path:
    """Generate the modules into ``ledger/proto/gen`` unless they are up to date."""
    cmt_root, gogo_root = proto_roots()
    files = _sources(cmt_root)
    stamp = _fingerprint(cmt_root, gogo_root, files)
    if not force and STAMP.is_file() and STAMP.read_text() == stamp:
        return GEN_DIR

    from grpc_tools import protoc

    wkt = Path(protoc.__file__).resolve().parent / "_proto"  # google/protobuf/*.proto
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gen"
        out.mkdir()
        args = [
            "protoc", f"-I{cmt_root}", f"-I{gogo_root}", f"-I{wkt}", f"--python_out={out}",
            "gogoproto/gogo.proto", *files,
        ]
        if protoc.main(args) != 0:
            raise ProtoBuildError("protoc failed (see messages above)")
        for py in out.rglob("*_pb2.py"):
            py.write_text(_IMPORT_RE.sub(r"\1 ledger.proto.gen.\2\3", py.read_text()))
        for folder in [out, *[d for d in out.rglob("*") if d.is_dir()]]:
            (folder / "__init__.py").touch()
        (out / ".stamp").write_text(stamp)
        if GEN_DIR.exists():
            shutil.rmtree(GEN_DIR)
        shutil.copytree(out, GEN_DIR)
    return GEN_DIR


def main() -> int:
    try:
        path = build(force="--force" in sys.argv[1:])
    except ProtoBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"protocol types ready in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
