"""The ``ledger/`` source hash that node images are labelled with."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ledger.source_hash import source_hash

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "ledger" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "ledger"


def test_hash_follows_what_the_image_copies(tmp_path):
    base = {"__init__.py": "", "app.py": "x = 1\n", "system/identity.py": "y = 2\n"}
    tree = _tree(tmp_path / "a", base)
    first = source_hash(tree)
    assert len(first) == 16 and first == source_hash(tree)
    # tests, caches and bytecode are not copied into the image, so they do not count
    _tree(tmp_path / "a", {"tests/test_app.py": "assert 1\n", "__pycache__/app.pyc": "b",
                           "system/tests/test_x.py": "", "app.pyc": "b"})
    assert source_hash(tree) == first
    # any change to code the node runs does, including a rename
    (tree / "app.py").write_text("x = 2\n")
    assert source_hash(tree) != first
    renamed = _tree(tmp_path / "b", {"__init__.py": "", "app2.py": "x = 1\n",
                                     "system/identity.py": "y = 2\n"})
    assert source_hash(renamed) != first


def test_hash_of_the_tree_equals_the_hash_of_what_the_image_build_copies(tmp_path):
    """The build script hashes its copy; the control plane hashes its checkout. Both must
    agree on which files count, or every image would look stale."""
    script = (REPO / "scripts/build-node-image.sh").read_text()
    [copy] = [line for line in script.splitlines() if line.startswith("tar -c ")]
    tree = _tree(tmp_path / "src", {"__init__.py": "", "app.py": "x = 1\n",
                                    "tests/test_app.py": "", "sub/tests": "a file named tests",
                                    "sub/__pycache__/m.cpython-311.pyc": "b", "m.pyc": "b",
                                    "proto/gen/x_pb2.py": "generated\n"})
    dest = tmp_path / "ctx"
    dest.mkdir()
    subprocess.run(["bash", "-c", copy.replace('"$ctx"', str(dest))], cwd=tree.parent,
                   check=True)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) \
        == ["ledger/__init__.py", "ledger/app.py", "ledger/proto/gen/x_pb2.py"]
    assert source_hash(dest / "ledger") == source_hash(tree)
