"""Operation state machine, idempotency keys, progress, reaper and the API incl. SSE."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from baas.choices import ACTIVE, OPERATION_TRANSITIONS, TERMINAL, OperationState
from baas.errors import Conflict, InvalidTransition
from baas.operations import (
    operation_create,
    operation_progress,
    operation_transition,
    operations_reap,
)
from baas.testing import api_client_for
from tenants.tests.factories import MembershipFactory, OperationFactory

pytestmark = pytest.mark.django_db
S = OperationState


def test_state_table_is_consistent():
    assert ACTIVE | TERMINAL == set(S.values)
    assert not ACTIVE & TERMINAL
    for state in TERMINAL:
        assert OPERATION_TRANSITIONS[state] == frozenset()


def test_happy_path_records_steps_and_times():
    m = MembershipFactory()
    op = operation_create(tenant=m.tenant, actor=m.user, kind="x", target=m.tenant)
    assert op.created and op.state == S.QUEUED and op.target_id == str(m.tenant.pk)
    operation_transition(operation_id=op.pk, to=S.RUNNING)
    operation_progress(operation_id=op.pk, percent=40, message="half")
    operation_progress(operation_id=op.pk, percent=10, message="late report")
    op.refresh_from_db()
    assert op.progress == 40  # never backwards
    op = operation_transition(operation_id=op.pk, to=S.SUCCEEDED)
    assert op.progress == 100 and op.started_at and op.finished_at
    assert [s["message"] for s in op.steps] == ["queued", "running", "half", "late report",
                                                "succeeded"]


@pytest.mark.parametrize("start,to", [(S.SUCCEEDED, S.RUNNING), (S.CANCELLED, S.SUCCEEDED),
                                      (S.QUEUED, S.SUCCEEDED), (S.FAILED, S.CANCELLED)])
def test_illegal_transitions_are_refused(start, to):
    op = OperationFactory(state=start)
    with pytest.raises(InvalidTransition):
        operation_transition(operation_id=op.pk, to=to)
    op.refresh_from_db()
    assert op.state == start


def test_idempotency_key_returns_the_same_operation_per_tenant():
    a, b = MembershipFactory(), MembershipFactory()
    first = operation_create(tenant=a.tenant, actor=a.user, kind="k", idempotency_key="key-1")
    again = operation_create(tenant=a.tenant, actor=a.user, kind="k", idempotency_key="key-1")
    other = operation_create(tenant=b.tenant, actor=b.user, kind="k", idempotency_key="key-1")
    assert again.pk == first.pk and not again.created
    assert other.pk != first.pk
    with pytest.raises(Conflict) as exc:
        operation_create(tenant=a.tenant, actor=a.user, kind="other", idempotency_key="key-1")
    assert exc.value.code == "idempotency_key_reused"


def test_reaper_fails_only_overdue_active_operations():
    past = timezone.now() - timedelta(minutes=1)
    overdue = OperationFactory(state=S.RUNNING, deadline=past)
    done = OperationFactory(state=S.SUCCEEDED, deadline=past)
    fresh = OperationFactory(state=S.QUEUED, deadline=timezone.now() + timedelta(hours=1))
    assert operations_reap() == [overdue.pk]
    overdue.refresh_from_db()
    assert overdue.state == S.FAILED and overdue.error_code == "deadline_exceeded"
    done.refresh_from_db()
    fresh.refresh_from_db()
    assert (done.state, fresh.state) == (S.SUCCEEDED, S.QUEUED)


def test_api_list_filter_get_and_cancel():
    m = MembershipFactory(role="developer")
    running = OperationFactory(tenant=m.tenant, state=S.RUNNING)
    OperationFactory(tenant=m.tenant, state=S.SUCCEEDED)
    client = api_client_for(m.user)
    listed = client.get("/api/v1/operations/?state=running").json()
    assert [row["id"] for row in listed["results"]] == [running.pk]
    response = client.post(f"/api/v1/operations/{running.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    again = client.post(f"/api/v1/operations/{running.pk}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"


def test_viewer_cannot_cancel():
    m = MembershipFactory(role="viewer")
    op = OperationFactory(tenant=m.tenant, state=S.RUNNING)
    response = api_client_for(m.user).post(f"/api/v1/operations/{op.pk}/cancel/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_sse_streams_progress_until_terminal():
    m = MembershipFactory(role="viewer")
    op = OperationFactory(tenant=m.tenant, state=S.FAILED, progress=30, error_code="boom")
    response = api_client_for(m.user).get(f"/api/v1/operations/{op.pk}/events/",
                                          HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response.streaming_content).decode()
    assert "event: progress" in body and '"error_code": "boom"' in body
    assert body.rstrip().endswith(f'data: {{"id": {op.pk}, "state": "failed"}}')


def test_sse_follows_a_running_operation(settings):
    """The stream reports each change; a second thread finishes the operation."""
    settings.BAAS_SSE_POLL_SECONDS = 0.05
    from baas.api.views import operation_event_stream

    m = MembershipFactory()
    op = OperationFactory(tenant=m.tenant, state=S.RUNNING)
    stream = operation_event_stream(op.pk, poll=0.01, max_seconds=30)
    events = [next(stream), next(stream)]  # retry hint, first progress
    operation_progress(operation_id=op.pk, percent=50, message="half")
    operation_transition(operation_id=op.pk, to=S.SUCCEEDED)
    events.extend(stream)
    text = "".join(events)
    assert text.count("event: progress") >= 2
    assert '"state": "succeeded"' in text and "event: end" in text


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_have_exactly_one_winner():
    """A worker finishing and a user cancelling at once: the row lock lets one through."""
    import threading

    from django.db import connection

    op = OperationFactory(state=S.RUNNING)
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def move(to: str) -> None:
        try:
            barrier.wait(timeout=10)
            operation_transition(operation_id=op.pk, to=to)
            results[to] = "ok"
        except InvalidTransition:
            results[to] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(to,)) for to in (S.SUCCEEDED, S.CANCELLED)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results.values()) == ["ok", "refused"]
    op.refresh_from_db()
    winner = next(to for to, r in results.items() if r == "ok")
    assert op.state == winner
    assert [s["message"] for s in op.steps].count(winner) == 1
