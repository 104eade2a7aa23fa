"""A task run by a real ``celery worker`` process: API -> on_commit -> broker -> worker ->
operation progress -> succeeded, on the filesystem broker and on Redis.

The worker is a subprocess pointed (through the environment) at the test database and at a
broker of the test's own, so it never touches the developer's database or queue.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from baas.celery import app
from baas.models import Operation
from baas.testing import api_client_for
from conftest import require_service
from tenants.tests.factories import MembershipFactory

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60  # an upper bound for a slow CI machine, not a timing assertion


def _test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return (f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


def _use_broker(url: str, options: dict) -> None:
    """Point this process's Celery producer at ``url`` (dropping pooled connections).

    The app reads Django settings with the ``CELERY`` namespace, so the prefixed keys are
    the ones it looks up. kombu keeps pools per connection URI, hence the reset.
    """
    from kombu import pools

    app.conf.CELERY_BROKER_URL = url
    app.conf.CELERY_BROKER_TRANSPORT_OPTIONS = options
    app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


@contextmanager
def celery_worker(env_extra: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(env_extra)
    env["DATABASE_URL"] = _test_database_url()
    env["BAAS_EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
    cmd = [sys.executable, "-m", "celery", "-A", "baas", "worker", "--pool=solo",
           "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
           "-n", f"test-{os.getpid()}@%h"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _invite_and_wait(log: Path) -> Operation:
    admin = MembershipFactory(role="admin")
    response = api_client_for(admin.user).post(
        "/api/v1/invitations/", {"email": "worker-test@example.test", "role": "viewer"},
        format="json",
    )
    assert response.status_code == 201, response.content
    op_id = response.json()["operation"]["id"]
    deadline = time.monotonic() + WAIT_SECONDS
    op = Operation.objects.get(pk=op_id)
    while op.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        op.refresh_from_db()
    assert op.state == "succeeded", (op.state, op.steps, log.read_text(errors="replace")[-3000:])
    return op


def _assert_sent_by_worker(op: Operation, log: Path) -> None:
    messages = [step["message"] for step in op.steps]
    assert messages[:2] == ["queued", "worker picked up the invitation"]
    assert "sending to worker-test@example.test" in messages
    assert op.progress == 100
    output = log.read_text(errors="replace")
    assert "To: worker-test@example.test" in output  # the console backend in the worker


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_invitation_email_runs_on_a_real_worker_filesystem_broker(tmp_path):
    broker = tmp_path / "broker"
    for sub in ("in", "processed"):
        (broker / sub).mkdir(parents=True)
    options = {"data_folder_in": str(broker / "in"), "data_folder_out": str(broker / "in"),
               "processed_folder": str(broker / "processed"), "store_processed": False}
    saved = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    _use_broker("filesystem://", options)
    log = tmp_path / "worker.log"
    try:
        with celery_worker({"BAAS_BROKER_DIR": str(broker)}, log):
            op = _invite_and_wait(log)
    finally:
        _use_broker(*saved)
    _assert_sent_by_worker(op, log)


def _redis_available(url: str) -> bool:
    if not url:
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except Exception:
        return False


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_invitation_email_runs_on_a_real_worker_redis_broker(tmp_path):
    # REDIS_URL in CI's second run; otherwise a local Redis if one runs (CI starts one for
    # both runs, so a missing Redis fails there instead of skipping).
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    require_service("redis", _redis_available(url), f"no Redis answering at {url}")
    saved = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    _use_broker(url, {"visibility_timeout": 3600})
    log = tmp_path / "worker.log"
    try:
        with celery_worker({"REDIS_URL": url}, log):
            op = _invite_and_wait(log)
    finally:
        _use_broker(*saved)
    _assert_sent_by_worker(op, log)
