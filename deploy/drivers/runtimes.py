"""Ledger versions: what the control plane runs now, and the local runtime store.

A ledger version is the 16-hex hash of a ``ledger/`` tree (``ledger.source_hash``). Every
network records the version it was created with (``Network.ledger_version``) and its nodes
run only that version, whatever the control plane's own ``ledger/`` is today: validators
that execute blocks with different code part on the app hash.

- ``current_source()`` / ``current_version()``: the ``ledger/`` the control plane would give
  a new network, normally the package it imports. ``BAAS_LEDGER_SOURCE`` points at another
  ``ledger/`` directory instead (tests present a second version this way; an operator can
  stage a release's ledger before moving the control plane to it).
- ``RuntimeStore``: the local driver's copies, one per version, ``<root>/<version>/ledger/``
  (with the generated ``ledger/proto/gen`` types), each made once from the current source
  when that version is first needed, never changed afterwards. A node process runs with
  ``PYTHONPATH=<root>/<version>``, so it imports that copy and nothing else of ``ledger``.

Django-free, like every driver module.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path

from deploy.drivers import config
from deploy.drivers._files import locked
from deploy.drivers.base import DriverError

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^[0-9a-f]{16}$")
META = "runtime.json"
_SKIPPED = ("tests", "__pycache__", "*.pyc")  # as ledger.source_hash and the image build


def current_source() -> Path:
    """The ``ledger/`` directory the control plane runs now (see the module docstring)."""
    configured = config.setting("BAAS_LEDGER_SOURCE")
    if configured:
        return Path(configured).resolve()
    from ledger.source_hash import ROOT

    return ROOT


def current_version() -> str:
    """The hash of ``current_source()``, computed afresh: a checkout that changed under a
    long-running worker gives its new hash, never a remembered one."""
    from ledger.source_hash import source_hash

    source = current_source()
    if not (source / "__init__.py").is_file():
        raise DriverError("runtime_missing",
                          f"{source} is not a ledger package (BAAS_LEDGER_SOURCE?)")
    return source_hash(source)


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise DriverError("invalid_spec",
                          f"ledger version {version!r} is not 16 lowercase hex digits")
    return version


class RuntimeStore:
    """``<root>/<version>/ledger/`` copies, made atomically (aside, then renamed)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, version: str) -> Path:
        """The directory to put on ``PYTHONPATH`` for ``version`` (it holds ``ledger/``)."""
        return self.root / check_version(version)

    def has(self, version: str) -> bool:
        entry = self.path(version)
        return (entry / META).is_file() and (entry / "ledger" / "__init__.py").is_file()

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if VERSION_RE.match(p.name) and self.has(p.name))

    def ensure(self, version: str) -> Path:
        """The copy of ``version``: kept from an earlier call, or snapshotted now from the
        control plane's ``ledger/`` when that is ``version``. Anything else is
        ``runtime_missing``: the store never guesses another tree for a version."""
        entry = self.path(version)
        if self.has(version):
            return entry
        with locked(self.root / ".locks" / f"{version}.lock"):
            if self.has(version):
                return entry
            source = current_source()
            current = current_version()
            if current != version:
                raise DriverError(
                    "runtime_missing",
                    f"ledger version {version} is not in this driver's runtime store and the "
                    f"control plane's ledger/ is {current}; nodes of that version cannot "
                    "start here",
                )
            if not (source / "proto" / "gen").is_dir():
                raise DriverError(
                    "runtime_missing",
                    f"the control plane's ledger/proto/gen is missing (run make proto): a "
                    f"copy of ledger {version} without its generated types could not run",
                )
            self._snapshot(source, version, entry)
        return entry

    def _snapshot(self, source: Path, version: str, entry: Path) -> None:
        tmp = self.root / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir(parents=True)
            # symlinks=False: a linked proto/gen is copied as files, so the copy stands
            # alone whatever later happens to the checkout it came from.
            shutil.copytree(source, tmp / "ledger", symlinks=False,
                            ignore=shutil.ignore_patterns(*_SKIPPED))
            if current_version() != version:  # the tree changed while it was copied
                raise DriverError(
                    "runtime_missing",
                    f"the control plane's ledger/ changed while it was copied; ledger {version} "
                    "is no longer there to copy",
                )
            (tmp / META).write_text(json.dumps({
                "version": version, "source": str(source), "created_at": int(time.time()),
            }) + "\n")
            if entry.exists():  # a half-made entry of an older crash (no runtime.json)
                shutil.rmtree(entry)
            os.rename(tmp, entry)
        except OSError as exc:
            # The path stays in the server's log; tenants read this message.
            log.error("cannot store ledger %s in %s: %s", version, self.root, exc)
            raise DriverError("driver_error",
                              f"cannot store ledger {version}: {exc.strerror or exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
