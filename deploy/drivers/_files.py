"""Small filesystem helpers shared by the drivers: validated relative paths, atomic JSON,
file locks and log tails."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from deploy.drivers.base import DriverError

# Network and node ids are UUID strings; anything that could escape a directory is refused.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not SAFE_ID.match(value) or ".." in value:
        raise DriverError("invalid_spec", f"{kind} {value!r} is not a valid id")
    return value


def home_path(relative: str) -> PurePosixPath:
    """A home file path that stays inside the home: relative, no '..', not empty."""
    path = PurePosixPath(relative)
    if (
        not relative
        or path.is_absolute()
        or any(p in ("..", "") for p in path.parts)
        or (path.parts and path.parts[0] == ".")
    ):
        raise DriverError(
            "invalid_spec",
            f"home file path {relative!r} must be relative and stay inside the node home",
        )
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: readers see the old or the new file, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DriverError("driver_error", f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` across processes and threads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def tail_lines(path: Path, lines: int, *, block: int = 65536) -> str:
    """The last ``lines`` lines of a possibly huge file, reading from the end."""
    if lines <= 0:
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        data = b""
        while end > 0 and data.count(b"\n") <= lines:
            start = max(0, end - block)
            fh.seek(start)
            data = fh.read(end - start) + data
            end = start
    text = data.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:]) + ("\n" if text.endswith("\n") else "")
