"""The platform's own templates: the bundles in ``sectors/bundles/``, validated and entered
in the catalogue once per content hash.

A platform bundle is loaded the first time the catalogue is read in a process (and again
when its files change): validation and the review take about a second per bundle, so they
run once per content hash, not per request. A bundle that fails validation is left out
and logged; a changed bundle that keeps its version is left out too (a version, once in
the catalogue, always means the same code), and logged.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction

logger = logging.getLogger(__name__)

BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"
_seen: set[str] = set()  # content hashes already in the catalogue (this process)
# Per bundle dir, the files' sizes and times when last synchronised: a catalogue read only
# stats the files, it reads and hashes them again only when one changed.
_stamps: dict[Path, tuple] = {}
_lock = threading.Lock()


def version_key(version: str) -> int:
    from sectors.bundle import parse_version

    major, minor, patch = parse_version(version)
    return (major * 1_000_000 + minor) * 1_000_000 + patch


def bundle_dirs() -> list[Path]:
    if not BUNDLES_DIR.is_dir():
        return []
    return sorted(p for p in BUNDLES_DIR.iterdir() if (p / "manifest.toml").is_file())


def sync_platform_bundles() -> None:
    with _lock:
        for path in bundle_dirs():
            try:
                _sync_one(path)
            except Exception:  # noqa: BLE001 -- one broken bundle must not hide the others
                logger.exception("platform bundle %s could not be loaded", path.name)


def _stamp(path: Path) -> tuple:
    return tuple(sorted((str(f.relative_to(path)), f.stat().st_mtime_ns, f.stat().st_size)
                        for f in path.rglob("*")
                        if f.is_file() and "__pycache__" not in f.parts))


def _sync_one(path: Path) -> None:
    from sectors.bundle import load_dir
    from sectors.models import Template
    from sectors.validation import validate

    stamp = _stamp(path)
    if _stamps.get(path) == stamp:
        return
    bundle = load_dir(path)
    if bundle.content_hash in _seen:
        _stamps[path] = stamp
        return
    existing = Template.objects.filter(tenant__isnull=True, name=bundle.name,
                                       version=bundle.version).first()
    if existing is not None:
        if existing.content_hash != bundle.content_hash:
            logger.error("platform bundle %s %s changed without a new version; the "
                         "catalogue keeps the version it has", bundle.name, bundle.version)
        _seen.add(bundle.content_hash)
        return
    report = validate(bundle)
    if not report.valid:
        logger.error("platform bundle %s %s is invalid: %s", bundle.name, bundle.version,
                     [p.code for p in report.problems])
        _seen.add(bundle.content_hash)  # said once per content, not on every read
        return
    try:
        with transaction.atomic():
            Template.objects.create(**template_fields(bundle, report))
    except IntegrityError:  # another process entered it first
        pass
    _seen.add(bundle.content_hash)
    _stamps[path] = stamp


def template_fields(bundle: Any, report: Any) -> dict[str, Any]:
    manifest = bundle.manifest
    return {
        "name": bundle.name, "version": bundle.version,
        "version_key": version_key(bundle.version),
        "sector": manifest.get("sector", "other"), "content_hash": bundle.content_hash,
        "manifest": manifest, "source": bundle.contract, "review": report.to_dict(),
    }


def forget() -> None:
    """Tests: make the next read load the bundles again."""
    with _lock:
        _seen.clear()
        _stamps.clear()
