"""Driver defaults: Django settings when Django is configured, else the environment.

Drivers are also used outside Django (scripts, benchmarks, ``ledger``-side tools), so they
never require settings; explicit constructor arguments always win over both.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def setting(name: str, default: str | None = None) -> str | None:
    try:
        from django.conf import settings

        if settings.configured and hasattr(settings, name):
            value = getattr(settings, name)
            return None if value is None else str(value)
    except ImportError:  # Django not installed: driver used standalone
        pass
    return os.environ.get(name, default)


def install_id() -> str:
    return setting("BAAS_INSTALL_ID") or "default"


def nodes_dir() -> Path:
    configured = setting("BAAS_NODES_DIR")
    if configured:
        return Path(configured)
    var_dir = setting("VAR_DIR") or setting("BAAS_VAR_DIR") or str(REPO_ROOT / "var")
    return Path(var_dir) / "nodes"
