"""requirements.txt names what we depend on; constraints.txt fixes every package the
install resolves to. They must agree, or `make setup` would fail to resolve."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)$")


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{name}: {line!r} is not an exact '==' pin"
        pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def test_every_requirement_is_constrained_at_the_same_version():
    required, constrained = _pins("requirements.txt"), _pins("constraints.txt")
    for name, version in required.items():
        assert constrained.get(name) == version, (name, version, constrained.get(name))
    assert len(constrained) > len(required)  # the transitive packages are pinned too
