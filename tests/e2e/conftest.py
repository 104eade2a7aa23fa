"""End-to-end plumbing: a REAL Celery worker process on the test database and broker.

The worker gets its own queue name, so a developer's running worker (``make run``) never
steals the test's tasks, and its own install id, nodes dir and key file, so the test never
touches (or is touched by) anything else on the machine. Whatever a test leaves behind is
deleted through the driver at teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from conftest import require_service

REPO = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    cfg = connection.settings_dict
    if cfg["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{cfg['NAME']}"
    if cfg["ENGINE"].endswith("postgresql"):
        auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else "")
        return f"postgres://{auth}@{cfg.get('HOST') or '127.0.0.1'}:{cfg.get('PORT') or 5432}/" \
               f"{cfg['NAME']}"
    raise RuntimeError(f"no worker URL for database engine {cfg['ENGINE']}")


@pytest.fixture
def e2e_env(tmp_path, settings):
    """Settings shared by this test process and the worker it starts."""
    from deploy import crypto

    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    env = {
        "BAAS_INSTALL_ID": f"e2e-{uuid.uuid4().hex[:8]}",
        "BAAS_NODES_DIR": str(tmp_path / "nodes"),
        "BAAS_NODE_KEYS_KEY_FILE": str(tmp_path / "kek"),
    }
    for key, value in env.items():
        setattr(settings, key, value)
    crypto.reset_cache()
    yield env
    crypto.reset_cache()


def _cleanup_driver(env: dict[str, str]) -> None:
    from deploy.drivers import get_driver

    for name in ("local", "docker"):
        try:
            driver = get_driver(name)
            driver.check()
            owned = driver.list_owned(install_id=env["BAAS_INSTALL_ID"])
        except Exception:  # noqa: BLE001 -- docker may simply not be here
            continue
        for network_id in {r.network_id for r in owned if r.network_id}:
            driver.delete_network(network_id=network_id)


@pytest.fixture
def celery_worker(e2e_env, tmp_path, transactional_db):
    """Start ``celery -A baas worker`` on a private queue; yield a function that restarts
    it with extra environment (fault tests)."""
    from baas.celery import app

    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    old_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    procs: list[subprocess.Popen] = []

    def start(extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        for proc in procs:
            _stop(proc)
        env = {**os.environ, **e2e_env, **(extra_env or {}),
               "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "baas.settings"}
        log = tmp_path / f"worker-{len(procs)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "baas", "worker", "-Q", queue,
             "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel=INFO", f"--logfile={log}"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log.exists() and "ready." in log.read_text(errors="replace"):
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not start:\n{_tail(log)}")

    start.procs = procs  # type: ignore[attr-defined]  # tests that kill the worker
    start()
    yield start
    for proc in procs:
        _stop(proc)
    app.conf.task_default_queue = old_queue
    _cleanup_driver(e2e_env)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
