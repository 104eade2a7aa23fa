"""Example chaincode shipped with the node (sources are installed on chain, not imported)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def source(name: str) -> str:
    """Source text of a bundled example chaincode, e.g. ``source("kv")``."""
    return (HERE / f"{name}.py").read_text(encoding="utf-8")
