"""The outbox and deliveries: events written with the change (or not at all), signed
deliveries to a real local receiver, retries, replays, refusals."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from baas import events
from baas.choices import OperationState
from baas.errors import AppError, ValidationFailed
from baas.operations import operation_create, operation_transition
from deploy import crypto
from notify import services
from notify.models import Attempt, Delivery, Event
from notify.tests.factories import subscription
from notify.tests.receiver import verify
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(key_file):
    return MembershipFactory(role="owner").tenant


def _finish_operation(tenant, state=OperationState.SUCCEEDED):
    op = operation_create(tenant=tenant, actor=None, kind="test.op")
    operation_transition(operation_id=op.pk, to=OperationState.RUNNING)
    return operation_transition(operation_id=op.pk, to=state, error_code="boom"
                                if state == OperationState.FAILED else None)


def test_the_secret_is_sealed_and_returned_once(tenant, allow_private, receiver):
    sub, secret = subscription(tenant, receiver.url())
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret.encode() not in bytes(sub.sealed_secret)
    assert crypto.unseal(bytes(sub.sealed_secret)).decode() == secret
    rotated = services.subscription_rotate_secret(tenant=tenant, actor=None, subscription=sub)
    sub.refresh_from_db()
    assert rotated != secret and services.secret_of(sub) == rotated


def test_an_operation_that_finishes_is_delivered_signed(tenant, allow_private, receiver,
                                                        django_capture_on_commit_callbacks):
    sub, secret = subscription(tenant, receiver.url())
    with django_capture_on_commit_callbacks() as queued:
        op = _finish_operation(tenant, OperationState.FAILED)
    [delivery] = Delivery.objects.filter(subscription=sub)
    assert len(queued) == 1  # its first attempt, queued after the commit
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == \
        ("succeeded", 1, 200)
    [got] = receiver.requests
    assert verify(secret, got.headers["X-Baas-Signature"], got.body)
    body = json.loads(got.body)
    assert body["type"] == "operation.finished" and body["tenant"] == tenant.slug
    assert body["data"]["operation"]["id"] == op.pk
    assert body["data"]["operation"]["state"] == "failed"
    assert body["data"]["operation"]["error_code"] == "boom"
    assert got.headers["X-Baas-Event"] == "operation.finished"
    assert got.headers["X-Baas-Event-Id"] == body["id"] == str(delivery.event_id)
    assert got.headers["X-Baas-Attempt"] == "1"
    # run again (a duplicate message): nothing more is sent
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1


def test_a_rolled_back_change_publishes_nothing(tenant, allow_private, receiver,
                                                django_capture_on_commit_callbacks):
    subscription(tenant, receiver.url())
    op = operation_create(tenant=tenant, actor=None, kind="test.op")
    with django_capture_on_commit_callbacks() as queued:
        with pytest.raises(RuntimeError), transaction.atomic():
            operation_transition(operation_id=op.pk, to=OperationState.CANCELLED)
            raise RuntimeError("the change fails after the transition")
    assert not Event.objects.exists() and not Delivery.objects.exists()
    assert queued == []
    op.refresh_from_db()
    assert op.state == "queued"


def test_only_subscribed_types_of_the_own_tenant_and_active_subscriptions(
        tenant, allow_private, receiver):
    other = MembershipFactory(role="owner").tenant
    subscription(other, receiver.url())
    wants_quota, _ = subscription(tenant, receiver.url(), types=[events.QUOTA_NEARLY_USED])
    paused, _ = subscription(tenant, receiver.url())
    services.subscription_update(tenant=tenant, actor=None, subscription=paused,
                                 changes={"active": False})
    _finish_operation(tenant)
    assert not Event.objects.filter(tenant=tenant).exists()  # nobody wanted it: not stored
    assert not Delivery.objects.filter(subscription=wants_quota).exists()


def test_retries_after_500s_with_backoff_then_succeeds(tenant, allow_private, receiver, settings,
                                                      django_capture_on_commit_callbacks):
    receiver.script = [(500, 0), (503, 0)]
    sub, secret = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [delivery] = Delivery.objects.filter(subscription=sub)
    with django_capture_on_commit_callbacks() as queued:
        services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == \
        ("retrying", 500, "http_status")
    assert len(queued) == 1  # the retry, with its countdown
    services.delivery_attempt(delivery_id=delivery.pk)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    attempts = list(Attempt.objects.filter(delivery=delivery))
    assert [(a.number, a.status_code, a.error) for a in attempts] == \
        [(1, 500, "http_status"), (2, 503, "http_status"), (3, 200, "")]
    assert [r.headers["X-Baas-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    # every attempt carries the same body and a valid signature
    assert len({r.body for r in receiver.requests}) == 1
    assert all(verify(secret, r.headers["X-Baas-Signature"], r.body) for r in receiver.requests)


def test_a_retry_waits_its_backoff(tenant, allow_private, receiver, settings):
    settings.BAAS_WEBHOOK_BACKOFF_S = 600
    receiver.default = (500, 0)
    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [delivery] = Delivery.objects.filter(subscription=sub)
    services.delivery_attempt(delivery_id=delivery.pk)
    # not due yet: an early message (a duplicate, the sweep) sends nothing
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1


def test_backoff_doubles_is_capped_and_jittered(settings):
    settings.BAAS_WEBHOOK_BACKOFF_S = 10
    settings.BAAS_WEBHOOK_BACKOFF_MAX_S = 100
    for attempt, top in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        waits = {services.backoff_s(attempt) for _ in range(20)}
        assert all(top / 2 <= w <= top for w in waits), (attempt, waits)
        assert len(waits) > 1  # jitter


def test_attempts_are_bounded(tenant, allow_private, receiver, settings):
    settings.BAAS_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.default = (500, 0)
    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [delivery] = Delivery.objects.filter(subscription=sub)
    for _ in range(5):
        services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert len(receiver.requests) == 3


def test_a_timeout_is_recorded_and_retried(tenant, allow_private, receiver, settings):
    settings.BAAS_WEBHOOK_TIMEOUT_S = 0.5
    receiver.script = [(200, 2.0)]
    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [delivery] = Delivery.objects.filter(subscription=sub)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error, delivery.last_status_code) == \
        ("retrying", "timeout", None)
    [attempt] = Attempt.objects.filter(delivery=delivery)
    assert attempt.error == "timeout" and attempt.error_message


def test_a_private_address_at_send_time_fails_the_delivery_without_sending(
        tenant, allow_private, receiver, settings):
    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    settings.BAAS_WEBHOOK_ALLOW_PRIVATE = False  # the operator turned it off meanwhile
    [delivery] = Delivery.objects.filter(subscription=sub)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "webhook_url_private")
    assert receiver.requests == []


def test_replay_sends_the_same_event_again_as_a_new_delivery(tenant, allow_private, receiver):
    sub, secret = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [first] = Delivery.objects.filter(subscription=sub)
    services.delivery_attempt(delivery_id=first.pk)
    replay = services.delivery_replay(tenant=tenant, actor=None, delivery=first)
    assert replay.pk != first.pk and replay.replay_of_id == first.pk
    services.delivery_attempt(delivery_id=replay.pk)
    replay.refresh_from_db()
    first.refresh_from_db()
    assert replay.status == first.status == "succeeded"
    a, b = receiver.requests
    assert a.body == b.body and a.headers["X-Baas-Event-Id"] == b.headers["X-Baas-Event-Id"]
    assert a.headers["X-Baas-Delivery"] != b.headers["X-Baas-Delivery"]
    assert verify(secret, b.headers["X-Baas-Signature"], b.body)
    # a paused subscription replays nothing
    services.subscription_update(tenant=tenant, actor=None, subscription=sub,
                                 changes={"active": False})
    with pytest.raises(AppError) as caught:
        services.delivery_replay(tenant=tenant, actor=None, delivery=first)
    assert caught.value.code == "webhook_inactive"


def test_the_sweep_requeues_deliveries_whose_message_was_lost(
        tenant, allow_private, receiver, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [delivery] = Delivery.objects.filter(subscription=sub)
    assert services.deliveries_sweep() == 0  # just made: its own message is on the way
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks() as queued:
        assert services.deliveries_sweep() == 1
    assert len(queued) == 1


def test_a_deleted_subscription_takes_its_deliveries(tenant, allow_private, receiver):
    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [delivery] = Delivery.objects.filter(subscription=sub)
    services.subscription_delete(tenant=tenant, actor=None, subscription=sub)
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.requests == []


@pytest.mark.parametrize("changes, code", [
    ({"url": "ftp://example.com/"}, "webhook_url_scheme"),
    ({"url": "http://127.0.0.1:9/"}, "webhook_url_private"),
    ({"url": ""}, "webhook_url_invalid"),
    ({"event_types": []}, "webhook_event_types_invalid"),
    ({"event_types": ["network.exploded"]}, "webhook_event_types_invalid"),
    ({"name": "a\u202eb"}, "invalid_name"),
])
def test_bad_input_is_refused_and_nothing_is_made(tenant, changes, code):
    args = {"name": "hooks", "url": "https://93.184.216.34/in",
            "event_types": [events.OPERATION_FINISHED], **changes}
    with pytest.raises(ValidationFailed) as caught:
        services.subscription_create(tenant=tenant, actor=None, **args)
    assert caught.value.code == code
    from notify.models import Subscription
    assert not Subscription.objects.exists()


def test_quota_nearly_used_fires_once_when_crossing_80_percent(tenant, allow_private, receiver):
    from baas.quotas import quota_nearly_used

    sub, _ = subscription(tenant, receiver.url(), types=[events.QUOTA_NEARLY_USED])
    for used in range(0, 10):  # limit 10: the 8th takes usage to 80%
        quota_nearly_used(tenant=tenant, quota="max_members", limit=10, used=used)
    [event] = Event.objects.filter(tenant=tenant, type=events.QUOTA_NEARLY_USED)
    assert event.data == {"quota": "max_members", "limit": 10, "used": 8}
    assert Delivery.objects.filter(subscription=sub).count() == 1


def test_quota_check_publishes_through_the_real_counter(tenant, allow_private, receiver):
    """A token made through the tenants service: its quota check publishes the event."""
    from tenants import services as tenant_services

    subscription(tenant, receiver.url(), types=[events.QUOTA_NEARLY_USED])
    tenant.max_tokens = 5  # 80% is 4: the fourth token crosses it
    tenant.save()
    membership = tenant.memberships.first()
    for n in range(3):
        tenant_services.token_create(tenant=tenant, actor=membership.user,
                                     membership=membership, name=f"t{n}", scopes=["read"])
    assert not Event.objects.filter(tenant=tenant).exists()
    tenant_services.token_create(tenant=tenant, actor=membership.user, membership=membership,
                                 name="fourth", scopes=["read"])
    [event] = Event.objects.filter(tenant=tenant, type=events.QUOTA_NEARLY_USED)
    assert event.data == {"quota": "max_tokens", "limit": 5, "used": 4}


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
def test_quota_nearly_used_is_not_announced_for_tiny_limits(tenant, allow_private, receiver,
                                                            limit):
    """With a limit of 1 to 4, 80% is the last place or the limit itself."""
    from baas.quotas import quota_nearly_used

    subscription(tenant, receiver.url(), types=[events.QUOTA_NEARLY_USED])
    for used in range(limit):
        quota_nearly_used(tenant=tenant, quota="max_members", limit=limit, used=used)
    assert not Event.objects.filter(tenant=tenant).exists()


def test_quota_nearly_used_seen_by_two_additions_at_once_is_one_event(tenant, allow_private,
                                                                     receiver):
    """Two additions that both counted 7 of 10 both cross 80%: one event, one delivery."""
    from baas.quotas import quota_nearly_used

    sub, _ = subscription(tenant, receiver.url(), types=[events.QUOTA_NEARLY_USED])
    quota_nearly_used(tenant=tenant, quota="max_members", limit=10, used=7)
    quota_nearly_used(tenant=tenant, quota="max_members", limit=10, used=7)
    [event] = Event.objects.filter(tenant=tenant, type=events.QUOTA_NEARLY_USED)
    assert event.dedupe_key.startswith("quota.nearly_used:max_members:10:8:")
    assert Delivery.objects.filter(subscription=sub).count() == 1


def test_a_secret_that_cannot_be_unsealed_fails_the_delivery_and_sends_nothing(
        tenant, allow_private, receiver):
    from notify.models import Subscription

    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    Subscription.objects.filter(pk=sub.pk).update(sealed_secret=b"not a fernet token")
    [delivery] = Delivery.objects.filter(subscription=sub)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error, delivery.attempts) == \
        ("failed", "secret_unreadable", 0)
    assert receiver.requests == []


def test_an_answer_with_nul_bytes_is_recorded_and_retried(tenant, allow_private, settings):
    """PostgreSQL text takes no NUL: stored raw, the attempt could not be recorded and the
    delivery stayed pending, sent again by every sweep."""
    from notify.tests.receiver import Receiver

    hostile = Receiver(default=(500, 0.0), answer_body=b"ab\x00cd\xed\xa0\x80").start()
    try:
        sub, _ = subscription(tenant, hostile.url())
        _finish_operation(tenant)
        [delivery] = Delivery.objects.filter(subscription=sub)
        services.delivery_attempt(delivery_id=delivery.pk)
    finally:
        hostile.stop()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == \
        ("retrying", 1, 500)
    [attempt] = Attempt.objects.filter(delivery=delivery)
    assert attempt.response_excerpt.startswith("ab") and "\x00" not in attempt.response_excerpt


def test_attempts_started_but_never_recorded_still_count(tenant, allow_private, receiver,
                                                         settings):
    """A delivery whose attempts were made but not recorded (a worker killed mid-send)
    fails once the limit is reached instead of being sent again by every sweep."""
    settings.BAAS_WEBHOOK_MAX_ATTEMPTS = 3
    sub, _ = subscription(tenant, receiver.url())
    _finish_operation(tenant)
    [delivery] = Delivery.objects.filter(subscription=sub)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=3)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error, delivery.attempts) == \
        ("failed", "attempts_exhausted", 3)
    assert receiver.requests == []


def test_the_attempt_task_is_stopped_before_its_lease_runs_out(settings):
    from notify import tasks

    task = tasks.delivery_attempt_task
    assert task.soft_time_limit and task.time_limit
    assert float(settings.BAAS_WEBHOOK_TIMEOUT_S) < task.soft_time_limit < task.time_limit \
        < services._lease_s()
    settings.BAAS_WEBHOOK_TIMEOUT_S = 0.1
    soft, hard = services.task_time_limits()
    assert 0.1 < soft < hard < services._lease_s()
