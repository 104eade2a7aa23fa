"""Deliveries on a real ``celery worker`` process: the outbox row is committed, the first
attempt is queued after the commit, the worker sends, the receiver answers 500 twice, the
worker retries with its back-off (Celery countdowns) and the third attempt succeeds.
The worker is a subprocess on the test database and a filesystem broker of the test's own
(``tests/test_worker.py`` shows the same plumbing for e-mail)."""

from __future__ import annotations

import time

import pytest

from baas.celery import app
from baas.choices import OperationState
from baas.operations import operation_create, operation_transition
from notify.models import Attempt, Delivery
from notify.tests.factories import subscription
from notify.tests.receiver import verify
from tenants.tests.factories import MembershipFactory
from tests.test_worker import _use_broker, celery_worker

WAIT_SECONDS = 60  # an upper bound for a slow machine, not a timing assertion


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_after_500s_until_delivered(tmp_path, key_file, allow_private,
                                                          receiver):
    broker = tmp_path / "broker"
    for sub in ("in", "processed"):
        (broker / sub).mkdir(parents=True)
    options = {"data_folder_in": str(broker / "in"), "data_folder_out": str(broker / "in"),
               "processed_folder": str(broker / "processed"), "store_processed": False}
    receiver.script = [(500, 0), (500, 0)]
    tenant = MembershipFactory(role="owner").tenant
    sub, secret = subscription(tenant, receiver.url())
    saved = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    _use_broker("filesystem://", options)
    log = tmp_path / "worker.log"
    try:
        with celery_worker({"BAAS_BROKER_DIR": str(broker),
                            "BAAS_NODE_KEYS_KEY_FILE": str(key_file),
                            "BAAS_WEBHOOK_ALLOW_PRIVATE": "1",
                            "BAAS_WEBHOOK_BACKOFF_S": "0.5",
                            "BAAS_WEBHOOK_TIMEOUT_S": "5"}, log):
            op = operation_create(tenant=tenant, actor=None, kind="test.op")
            operation_transition(operation_id=op.pk, to=OperationState.CANCELLED)
            delivery = Delivery.objects.get(subscription=sub)
            deadline = time.monotonic() + WAIT_SECONDS
            while delivery.status != "succeeded" and time.monotonic() < deadline:
                time.sleep(0.3)
                delivery.refresh_from_db()
    finally:
        _use_broker(*saved)
    assert delivery.status == "succeeded", (delivery.status, delivery.attempts,
                                            log.read_text(errors="replace")[-3000:])
    attempts = list(Attempt.objects.filter(delivery=delivery))
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    # the retries waited: each started after the one before it ended
    for before, after in zip(attempts, attempts[1:], strict=False):
        assert after.started_at > before.started_at
    assert len(receiver.requests) == 3
    assert all(verify(secret, r.headers["X-Baas-Signature"], r.body)
               for r in receiver.requests)
