"""The ``ledger/`` source hash that node images are labelled with."""

from __future__ import annotations

from pathlib import Path

from ledger.source_hash import source_hash


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


def test_the_checkout_hash_is_stable():
    assert source_hash() == source_hash()
