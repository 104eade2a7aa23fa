"""The control-plane image (scripts/build-control-plane-image.sh) runs what the chart asks of it.

The image is built from the working tree, or reused when the content hash of its inputs is
unchanged (the script decides). Every container runs the way the chart runs it: production
mode, read-only root file system with tmpfs for /tmp and the var dir, all capabilities
dropped, the image's unprivileged user, secrets as read-only files. SQLite on the tmpfs and the
filesystem broker stand in for PostgreSQL and Redis, which these containers cannot reach.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_service

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
UID = 10001  # the image's user (deploy/images/control-plane/Dockerfile, the chart's runAsUser)
SECRETS = "/run/secrets/baas"  # where the chart mounts them
HOST = "baas.example.com"


def _docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args[:3])}: {done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def image() -> str:
    have = shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30).returncode == 0
    require_service("docker", have, "no Docker engine (docker info fails)")
    started = time.monotonic()
    done = subprocess.run(["nice", "bash", str(REPO / "scripts/build-control-plane-image.sh")],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"control-plane image ready in {time.monotonic() - started:.0f}s")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def secret_dir() -> Iterator[Path]:
    """The files the chart mounts from Secrets, readable only by the image's user."""
    from cryptography.fernet import Fernet

    path = Path(tempfile.mkdtemp(prefix="baas-cp-secrets-"))
    files = {
        "secret-key": secrets.token_urlsafe(50),
        "node-keys-key": Fernet.generate_key().decode(),
        # SQLite on the container's tmpfs: the URL comes from a file, as the chart's does.
        "database-url": "sqlite:////var/lib/baas/baas.sqlite3",
    }
    for name, content in files.items():
        (path / name).write_text(content + "\n")
        os.chown(path / name, UID, UID)
        (path / name).chmod(0o400)
    os.chown(path, UID, UID)
    path.chmod(0o500)
    yield path
    shutil.rmtree(path)


def _run_args(secret_dir: Path, *, name: str | None = None, detach: bool = False,
              omit: str = "") -> list[str]:
    """`docker run` options mirroring the chart's pod and container security context, with
    the chart's environment (less the variable ``omit``)."""
    args = ["run", "--rm" if not detach else "--detach", "--read-only",
            "--tmpfs", "/tmp", "--tmpfs", f"/var/lib/baas:uid={UID},gid={UID}",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--network", "none",  # nothing here may need the network
            "-v", f"{secret_dir}:{SECRETS}:ro"]
    env = {"BAAS_ENV": "production", "BAAS_VAR_DIR": "/var/lib/baas",
           "BAAS_ALLOWED_HOSTS": HOST, "BAAS_EMAIL_HOST": "smtp.example.com",
           "BAAS_SECRET_KEY_FILE": f"{SECRETS}/secret-key",
           "BAAS_NODE_KEYS_KEY_FILE": f"{SECRETS}/node-keys-key",
           "DATABASE_URL_FILE": f"{SECRETS}/database-url"}
    for key, value in env.items():
        if key != omit:
            args += ["-e", f"{key}={value}"]
    if name:
        args += ["--name", name]
    return args


def test_image_runs_unprivileged_with_one_entrypoint(image):
    import json

    (info,) = json.loads(_docker("image", "inspect", image).stdout)
    config = info["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["/usr/local/bin/baas"] and config["Cmd"] == ["web"]
    assert "8000/tcp" in config["ExposedPorts"]
    # The ledger inside is the working tree's: the Kubernetes driver runs the node image of
    # the same version (<repo>:ledger-<hash>).
    from ledger.source_hash import source_hash

    assert config["Labels"]["baas.ledger-hash"] == source_hash(REPO / "ledger")


def test_image_holds_the_project_without_its_tests(image):
    done = _docker("run", "--rm", "--network", "none", image, "sh", "-c",
                   "cd /opt/baas && find . -type d -name tests -not -path './sectors/bundles/*'"
                   " ; ls staticfiles/admin/css/base.css staticfiles/drf_spectacular_sidecar"
                   " >/dev/null && echo static-ok"
                   " ; python -m pip list --format=freeze 2>/dev/null | cut -d= -f1")
    lines = done.stdout.split()
    assert "static-ok" in lines  # collected at build time, served by whitenoise
    assert not [line for line in lines if line.endswith("/tests")], lines
    installed = {line.lower() for line in lines}
    assert {"django", "celery", "gunicorn", "uvicorn-worker", "psycopg", "kubernetes"} <= installed
    assert not {"pytest", "ruff", "playwright", "schemathesis"} & installed  # no test tools


def test_production_settings_load_from_secret_files(image, secret_dir):
    probe = ("import baas.settings as s; "
             "print(s.PRODUCTION, s.DATABASES['default']['NAME'], s.ALLOWED_HOSTS, "
             f"s.SECRET_KEY == open('{SECRETS}/secret-key').read().strip())")
    done = _docker(*_run_args(secret_dir), image, "python", "-c", probe)
    assert done.stdout.split() == ["True", "/var/lib/baas/baas.sqlite3", f"['{HOST}']", "True"]
    # Django's deployment checks: no error (warnings such as HSTS are the operator's choice).
    done = _docker(*_run_args(secret_dir), image, "manage", "check", "--deploy",
                   "--fail-level", "ERROR")
    assert "System check identified" in done.stdout + done.stderr


def test_production_refuses_to_start_without_its_secret_files(image, secret_dir):
    done = _docker(*_run_args(secret_dir, omit="BAAS_SECRET_KEY_FILE"), image,
                   "python", "-c", "import baas.settings", check=False)
    assert done.returncode != 0
    assert "BAAS_SECRET_KEY_FILE" in done.stderr.strip().splitlines()[-1]


def test_migrate_runs_on_a_read_only_root(image, secret_dir):
    done = _docker(*_run_args(secret_dir), image, "sh", "-c",
                   "baas migrate && python manage.py showmigrations --plan", timeout=300)
    plan = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(plan) > 20 and all(line.startswith("[X]") for line in plan), done.stdout[-2000:]


def _wait_for_log(container: str, needle: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    logs = ""
    while time.monotonic() < deadline:
        done = _docker("logs", container, check=False)
        logs = done.stdout + done.stderr
        if needle in logs:
            return logs
        state = _docker("inspect", "-f", "{{.State.Running}}", container, check=False)
        if state.stdout.strip() == "false":
            break
        time.sleep(1)
    raise AssertionError(f"{needle!r} not in the logs of {container}:\n{logs[-3000:]}")


@pytest.mark.parametrize(("role", "ready"), [("worker", " ready."),
                                              ("beat", "beat: Starting...")])
def test_worker_and_beat_start(image, secret_dir, role, ready):
    name = f"baas-cp-test-{role}-{uuid.uuid4().hex[:8]}"
    # The chart's arguments (deploy/chart/templates/worker.yaml, beat.yaml).
    args = [role, "--loglevel=INFO"] + (["--concurrency=1"] if role == "worker" else [])
    _docker(*_run_args(secret_dir, name=name, detach=True), image, *args)
    try:
        _wait_for_log(name, ready)
    finally:
        _docker("rm", "-f", name, check=False)


def test_web_serves_the_health_endpoints(image, secret_dir):
    name = f"baas-cp-test-web-{uuid.uuid4().hex[:8]}"
    # The chart's arguments (deploy/chart/templates/web.yaml).
    _docker(*_run_args(secret_dir, name=name, detach=True), image, "web",
            "--bind=0.0.0.0:8000")
    try:
        # As the kubelet probes: plain HTTP, a Host the settings allow (not a pod IP).
        probe = (
            "import sys, time, urllib.request\n"
            "for attempt in range(60):\n"
            "    try:\n"
            "        codes = []\n"
            "        for path in ('/healthz', '/readyz'):\n"
            "            req = urllib.request.Request('http://127.0.0.1:8000' + path,\n"
            f"                                         headers={{'Host': '{HOST}'}})\n"
            "            codes.append(urllib.request.urlopen(req, timeout=5).status)\n"
            "        print(*codes); sys.exit(0)\n"
            "    except OSError:\n"
            "        time.sleep(1)\n"
            "sys.exit('web never answered')\n")
        done = _docker("exec", name, "python", "-c", probe, timeout=120, check=False)
        logs = _docker("logs", name, check=False)
        assert done.returncode == 0, done.stderr + logs.stderr[-3000:]
        assert done.stdout.split() == ["200", "200"]
    finally:
        _docker("rm", "-f", name, check=False)

