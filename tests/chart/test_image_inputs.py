"""The control-plane image's inputs, checked without a Docker engine.

A runtime dependency that the code imports but the image does not install would only show as
a crash in a pod; these tests find it at review time. test_image.py builds and runs the image.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "deploy" / "images" / "control-plane"
PROJECT = ("baas", "tenants", "deploy", "sectors", "ledger", "identity", "monitor", "notify",
           "archives", "explorer", "elections")
# Imported only by code that never runs in the image: the protobuf generator runs on the host
# before the build (scripts/build-control-plane-image.sh).
BUILD_TIME_ONLY = {"ledger/proto/build.py"}


def _packages() -> list[str]:
    lines = (IMAGE / "packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_image_package_is_pinned():
    requirements = (REPO / "requirements.txt").read_text()
    for name in _packages():
        if "==" in name:  # pinned in place: a package the host's venv never installs
            continue
        pattern = rf"^{re.escape(name)}(\[[^]]*\])?==\S+$"
        assert re.search(pattern, requirements, re.IGNORECASE | re.MULTILINE), name


def _runtime_imports() -> dict[str, str]:
    """Top-level third-party modules the project's runtime code imports -> a file doing so."""
    found: dict[str, str] = {}
    for package in PROJECT:
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if "/tests/" in f"/{rel}" or "/migrations/" in rel or rel in BUILD_TIME_ONLY:
                continue
            if path.name.startswith("test_") or path.name == "conftest.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PROJECT:
                        found.setdefault(top, rel)
    # Settings name modules as strings (apps, middleware), imported by Django at start-up.
    from django.conf import settings

    for dotted in [*settings.INSTALLED_APPS, *settings.MIDDLEWARE]:
        top = dotted.split(".")[0]
        if top not in PROJECT and top != "django":
            found.setdefault(top, "baas/settings.py")
    return found


def _closure(names: list[str]) -> set[str]:
    """The distributions the image's pip install brings in (as installed in this venv)."""
    todo = [_canonical(re.split(r"[\[=<>]", name)[0]) for name in names]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # e.g. async-timeout: only for the image's older Python
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(_canonical(re.split(r"[\s\[;=<>!~(]", requirement, maxsplit=1)[0]))
    return seen


def test_every_runtime_import_is_installed_in_the_image():
    providers = metadata.packages_distributions()
    installed = _closure(_packages())
    missing = {}
    for module, where in _runtime_imports().items():
        dists = {_canonical(d) for d in providers.get(module, [])}
        assert dists, f"{module} (imported by {where}) is not installed in this venv"
        if not dists & installed:
            missing[module] = where
    assert not missing, f"imported at run time but not in {IMAGE}/packages.txt: {missing}"


def test_entrypoint_runs_the_roles_the_chart_names():
    entrypoint = (IMAGE / "entrypoint.sh").read_text()
    expected = {
        "web": "exec gunicorn -c python:baas.gunicorn_conf baas.asgi:application",
        "worker": "exec celery -A baas worker",
        "beat": "exec celery -A baas beat",
        "migrate": "exec python manage.py migrate --noinput",
    }
    for role, command in expected.items():
        assert re.search(rf"^\s*{role}\) {re.escape(command)} \"\$@\" ;;$", entrypoint,
                         re.MULTILINE), role
    chart = REPO / "deploy" / "chart" / "templates"
    for template, role in [("web.yaml", "web"), ("worker.yaml", "worker"),
                           ("beat.yaml", "beat"), ("migrate-job.yaml", "migrate")]:
        text = (chart / template).read_text()
        assert re.search(rf"args:(\s*\n\s*- {role}\n| \[{role}\])", text), template
