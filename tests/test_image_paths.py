"""The control-plane image carries every app the settings install (a missing one only
fails when the image starts, in a cluster), and the files the apps read at run time."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build-control-plane-image.sh"


def _app_paths() -> set[str]:
    match = re.search(r"^APP_PATHS=\((.*?)\)", SCRIPT.read_text(), re.MULTILINE | re.DOTALL)
    assert match, "APP_PATHS not found in the image build script"
    return set(match.group(1).split())


def test_every_installed_project_app_is_copied_into_the_image():
    ours = {app.split(".")[0] for app in settings.INSTALLED_APPS
            if (ROOT / app.split(".")[0]).is_dir()}
    assert ours, "no project app found"
    assert ours <= _app_paths(), ours - _app_paths()


def test_the_export_runner_is_copied_into_the_image():
    from archives.workflows import RUNNER

    assert str(RUNNER.relative_to(ROOT)) in _app_paths()
