"""Writes of the notify app: subscriptions, the outbox recorder, deliveries and replays.

``event_record`` is registered with ``baas.events``: it runs inside the publisher's
transaction and writes the event and one pending delivery per active subscription that
wants it, then queues their first attempt for after the commit. ``delivery_attempt`` is the
one place a delivery is sent and moved between states (``notify.choices``).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baas import events
from baas.audit import audit_record
from baas.errors import AppError, Conflict, ValidationFailed
from baas.validators import validate_name
from deploy import crypto
from notify import conf, transport
from notify.choices import DELIVERY_OPEN, DELIVERY_TRANSITIONS, DeliveryStatus
from notify.models import Attempt, Delivery, Event, Subscription

logger = logging.getLogger(__name__)

ATTEMPT_TASK = "notify.delivery_attempt"
SECRET_PREFIX = "whsec_"
MAX_NAME = 100
MAX_URL = 2000
# URL refusals that no retry can change: the attempt fails the delivery at once.
FINAL_ERRORS = frozenset({"webhook_url_scheme", "webhook_url_invalid", "webhook_url_private"})


# --- subscriptions ------------------------------------------------------------------------
def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _clean_name(name: Any) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed("invalid_name", _("A name of 1 to %(max)s characters is needed.")
                               % {"max": MAX_NAME})
    try:
        validate_name(name)
    except ValidationError as exc:
        raise ValidationFailed("invalid_name", " ".join(exc.messages)) from None
    return name


def _clean_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL:
        raise ValidationFailed("webhook_url_invalid",
                               _("A URL of at most %(max)s characters is needed.")
                               % {"max": MAX_URL})
    url = url.strip()
    try:
        transport.check_url(url, allow_private=conf.setting("BAAS_WEBHOOK_ALLOW_PRIVATE"))
    except transport.UrlRefused as exc:
        raise ValidationFailed(exc.code, _url_refusal_text(exc.code), details={"url": url[:200]}
                               ) from None
    return url


def _url_refusal_text(code: str) -> str:
    return {
        "webhook_url_scheme": _("Only http:// and https:// URLs are accepted."),
        "webhook_url_private": _("The URL points at a loopback, private, link-local or "
                                 "multicast address; webhooks go to public addresses only."),
        "webhook_url_unresolvable": _("The URL's host name does not resolve to a public "
                                      "address."),
    }.get(code, _("The URL is not valid (no user name or password, a valid host name)."))


def _clean_types(event_types: Any) -> list[str]:
    if not isinstance(event_types, (list, tuple)) or not event_types:
        raise ValidationFailed("webhook_event_types_invalid",
                               _("Choose at least one event type."))
    unknown = [str(t)[:64] for t in event_types if t not in events.EVENT_TYPES]
    if unknown:
        raise ValidationFailed("webhook_event_types_invalid",
                               _("Unknown event types: %(types)s.") % {"types": ", ".join(unknown)},
                               details={"unknown": unknown, "known": list(events.EVENT_TYPES)})
    return sorted(set(event_types), key=events.EVENT_TYPES.index)


def subscription_create(*, tenant: Any, actor: Any, name: Any, url: Any, event_types: Any,
                        request: Any = None) -> tuple[Subscription, str]:
    """A new subscription and its secret (returned here once, never again)."""
    name, url, types = _clean_name(name), _clean_url(url), _clean_types(event_types)
    secret = _new_secret()
    with transaction.atomic():
        _check_subscription_limit(tenant)
        sub = Subscription.objects.create(
            tenant=tenant, name=name, url=url, event_types=types,
            sealed_secret=crypto.seal(secret.encode()),
            created_by=actor if getattr(actor, "pk", None) else None)
        audit_record(tenant=tenant, actor=actor, action="webhook.create", target=sub,
                     request=request, metadata={"url": url, "event_types": types})
    return sub, secret


def _check_subscription_limit(tenant: Any) -> None:
    """``BAAS_WEBHOOK_MAX_SUBSCRIPTIONS`` per tenant: each event is sent once per
    subscription, so their number bounds the requests one event makes. Counted with the
    tenant's row locked, so two creations at once cannot both take the last place."""
    from tenants.models import Tenant

    tenant_id = getattr(tenant, "pk", tenant)
    list(Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk", flat=True))
    limit = int(conf.setting("BAAS_WEBHOOK_MAX_SUBSCRIPTIONS"))
    used = Subscription.objects.filter(tenant_id=tenant_id).count()
    if used >= limit:
        raise Conflict("webhook_limit_reached",
                       _("This organisation already has %(limit)s webhooks, the most it may "
                         "have; delete one first.") % {"limit": limit},
                       details={"limit": limit, "used": used})


def subscription_update(*, tenant: Any, actor: Any, subscription: Subscription,
                        changes: dict[str, Any], request: Any = None) -> Subscription:
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = _clean_name(changes["name"])
    if "url" in changes:
        cleaned["url"] = _clean_url(changes["url"])
    if "event_types" in changes:
        cleaned["event_types"] = _clean_types(changes["event_types"])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise ValidationFailed("validation_failed", _("'active' is true or false."))
        cleaned["active"] = changes["active"]
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk, tenant=tenant)
        for key, value in cleaned.items():
            setattr(sub, key, value)
        sub.save()
        audit_record(tenant=tenant, actor=actor, action="webhook.update", target=sub,
                     request=request, metadata={k: v for k, v in cleaned.items()})
    return sub


def subscription_rotate_secret(*, tenant: Any, actor: Any, subscription: Subscription,
                               request: Any = None) -> str:
    """A new secret, in use from the next attempt on (also for deliveries still retrying)."""
    secret = _new_secret()
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk, tenant=tenant).update(
            sealed_secret=crypto.seal(secret.encode()), updated_at=timezone.now())
        audit_record(tenant=tenant, actor=actor, action="webhook.rotate_secret",
                     target=subscription, request=request)
    return secret


def subscription_delete(*, tenant: Any, actor: Any, subscription: Subscription,
                        request: Any = None) -> None:
    """Gone with its deliveries: a retry still queued finds no row and does nothing."""
    with transaction.atomic():
        audit_record(tenant=tenant, actor=actor, action="webhook.delete", target=subscription,
                     request=request, metadata={"url": subscription.url})
        Subscription.objects.filter(pk=subscription.pk, tenant=tenant).delete()


def secret_of(subscription: Subscription) -> str:
    return crypto.unseal(bytes(subscription.sealed_secret)).decode()


# --- the outbox ---------------------------------------------------------------------------
def event_record(*, tenant: Any, type: str, data: dict[str, Any],  # noqa: A002
                 dedupe_key: str = "") -> Event | None:
    """``baas.events`` recorder. Only events some active subscription wants are stored
    (nothing to deliver, nothing to keep); ``dedupe_key`` seen before: nothing new."""
    tenant_id = getattr(tenant, "pk", tenant)
    subs = [s for s in Subscription.objects.filter(tenant_id=tenant_id, active=True)
            if type in (s.event_types or [])]
    if not subs:
        return None
    if dedupe_key and Event.objects.filter(tenant_id=tenant_id, dedupe_key=dedupe_key).exists():
        return None  # the common case of a repeat (a validator down pass after pass)
    # JSON round trip: what is stored is exactly what is signed and sent, retry after retry.
    payload = json.loads(json.dumps(data, default=str))
    try:
        with transaction.atomic():
            event = Event.objects.create(tenant_id=tenant_id, type=type, data=payload,
                                         dedupe_key=dedupe_key or None)
    except IntegrityError:
        return None  # published before (a later pass, a resumed task)
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create([
        Delivery(tenant_id=tenant_id, subscription=s, event=event, next_attempt_at=now)
        for s in subs])
    for delivery in deliveries:
        _queue(delivery.pk)
    return event


def _queue(delivery_id: Any, countdown: float = 0.0) -> None:
    """Queue ``notify.delivery_attempt`` after the commit (by name: tasks sit above
    services)."""
    from celery import current_app

    def send() -> None:
        try:
            current_app.send_task(ATTEMPT_TASK, args=(str(delivery_id),), countdown=countdown)
        except Exception:  # noqa: BLE001 -- the broker is down: the sweep sends it later
            logger.warning("queueing webhook delivery %s failed; the sweep retries it",
                           delivery_id, exc_info=True)

    transaction.on_commit(send)


def event_body(event: Event) -> bytes:
    """The JSON body sent for ``event``: the same bytes on every attempt and replay."""
    from tenants.models import Tenant

    slug = Tenant.objects.filter(pk=event.tenant_id).values_list("slug", flat=True).first()
    return json.dumps({"id": str(event.pk), "type": event.type,
                       "created_at": event.created_at.isoformat(), "tenant": slug,
                       "data": event.data}, sort_keys=True, separators=(",", ":")).encode()


# --- deliveries ---------------------------------------------------------------------------
def _move(delivery: Delivery, to: str) -> None:
    if to not in DELIVERY_TRANSITIONS[delivery.status]:
        raise Conflict("invalid_transition",
                       f"A delivery that is {delivery.status} cannot become {to}.")
    delivery.status = to
    if to not in DELIVERY_OPEN:
        delivery.finished_at = timezone.now()
        delivery.next_attempt_at = None


def backoff_s(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: doubling from ``BAAS_WEBHOOK_BACKOFF_S``, capped,
    times a random factor in [0.5, 1) so receivers that failed together do not get every
    retry at the same instant."""
    base = float(conf.setting("BAAS_WEBHOOK_BACKOFF_S"))
    cap = float(conf.setting("BAAS_WEBHOOK_BACKOFF_MAX_S"))
    return min(cap, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0)


def _lease_s() -> float:
    # Long enough for one attempt to finish: a second run of the task meanwhile sees the
    # attempt in progress and leaves it alone. The task's time limits are below it
    # (``task_time_limits``), so no attempt outlives its lease.
    return float(conf.setting("BAAS_WEBHOOK_TIMEOUT_S")) * 2 + 30


def task_time_limits() -> tuple[float, float]:
    """``(soft, hard)`` time limits of one ``notify.delivery_attempt`` run: the transport's
    deadline plus room for the database writes, both below the lease."""
    timeout = float(conf.setting("BAAS_WEBHOOK_TIMEOUT_S"))
    return timeout + 10, timeout + 20


def delivery_attempt(*, delivery_id: Any) -> Delivery | None:
    """Send one attempt of an open delivery that is due, record it, and queue the next
    one or finish. Safe to run twice or late: a delivery that is final, gone, not due yet
    or being attempted elsewhere is left alone (returns None)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (Delivery.objects.select_for_update().select_related("subscription", "event")
                    .filter(pk=delivery_id).first())
        if delivery is None or delivery.status not in DELIVERY_OPEN:
            return None
        if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1):
            return None
        sub = delivery.subscription
        number = delivery.attempts + 1
        if delivery.attempts >= int(conf.setting("BAAS_WEBHOOK_MAX_ATTEMPTS")):
            # Attempts were started but never recorded (a worker killed mid-send, a failed
            # write): the limit holds all the same, and no attempt more is made.
            _move(delivery, DeliveryStatus.FAILED)
            delivery.last_error = "attempts_exhausted"
            delivery.save()
            return delivery
        if not sub.active:
            _move(delivery, DeliveryStatus.FAILED)
            delivery.last_error = "subscription_paused"
            delivery.save()
            return delivery
        try:
            secret = secret_of(sub)
        except crypto.SealError:
            # The key file changed without a reseal: no attempt can sign, so none is made.
            logger.error("webhook %s: its secret cannot be unsealed with the configured key "
                         "file", sub.pk)
            _move(delivery, DeliveryStatus.FAILED)
            delivery.last_error = "secret_unreadable"
            delivery.save()
            return delivery
        delivery.attempts = number
        delivery.next_attempt_at = now + timedelta(seconds=_lease_s())
        delivery.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
        url, event = sub.url, delivery.event
    body = event_body(event)
    timestamp = int(timezone.now().timestamp())
    try:
        result = transport.post(url, body, {
            "X-Baas-Event": event.type, "X-Baas-Event-Id": str(event.pk),
            "X-Baas-Delivery": str(delivery.pk), "X-Baas-Attempt": str(number),
            "X-Baas-Signature": transport.signature(secret, timestamp, body),
        }, timeout=float(conf.setting("BAAS_WEBHOOK_TIMEOUT_S")),
            allow_private=bool(conf.setting("BAAS_WEBHOOK_ALLOW_PRIVATE")))
    except Exception:  # noqa: BLE001 -- a bug of ours is recorded and retried, not lost
        logger.exception("webhook delivery %s: the attempt failed unexpectedly", delivery.pk)
        result = transport.Result(error="internal_error",
                                  error_message="The attempt failed on our side.")
    return _record(delivery.pk, number, now, result)


def _record(delivery_id: Any, number: int, started: Any, result: transport.Result
            ) -> Delivery | None:
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None  # its subscription was deleted during the attempt
        Attempt.objects.create(
            delivery=delivery, number=number, started_at=started,
            duration_ms=result.duration_ms, status_code=result.status_code,
            error=result.error, error_message=transport.clean_text(result.error_message)[:500],
            response_excerpt=transport.clean_text(result.excerpt)[:1000])
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if delivery.status not in DELIVERY_OPEN:
            delivery.save()
            return delivery
        if result.ok:
            _move(delivery, DeliveryStatus.SUCCEEDED)
        elif result.error in FINAL_ERRORS or \
                number >= int(conf.setting("BAAS_WEBHOOK_MAX_ATTEMPTS")):
            _move(delivery, DeliveryStatus.FAILED)
        else:
            _move(delivery, DeliveryStatus.RETRYING)
            wait = backoff_s(number)
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=wait)
            _queue(delivery.pk, countdown=wait)
        delivery.save()
    return delivery


def delivery_replay(*, tenant: Any, actor: Any, delivery: Delivery,
                    request: Any = None) -> Delivery:
    """Send ``delivery``'s event again to its subscription, as a new delivery (the first
    keeps its record). Same body, same event id: receivers that deduplicate by id can."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().filter(
            pk=delivery.subscription_id, tenant=tenant).first()
        _check_replay_rate(tenant)
        if sub is None or not sub.active:
            raise Conflict("webhook_inactive",
                           _("The subscription is paused; resume it before replaying."))
        replay = Delivery.objects.create(
            tenant=tenant, subscription=sub, event_id=delivery.event_id, replay_of=delivery,
            next_attempt_at=timezone.now(),
            created_by=actor if getattr(actor, "pk", None) else None)
        audit_record(tenant=tenant, actor=actor, action="webhook.replay", target=replay,
                     request=request, metadata={"replay_of": str(delivery.pk),
                                                "event": str(delivery.event_id)})
        _queue(replay.pk)
    return replay


def _check_replay_rate(tenant: Any) -> None:
    """At most ``BAAS_WEBHOOK_MAX_REPLAYS_PER_MINUTE`` replays per tenant in any minute
    (each one sends a request to the receiver): past it, ``429 throttled``."""
    limit = int(conf.setting("BAAS_WEBHOOK_MAX_REPLAYS_PER_MINUTE"))
    recent = Delivery.objects.filter(tenant=tenant, replay_of__isnull=False,
                                     created_at__gte=timezone.now() - timedelta(minutes=1))
    if recent.count() >= limit:
        raise AppError("throttled", _("Too many replays; wait a minute and try again."),
                       status=429, details={"wait_seconds": 60})


def deliveries_sweep(*, grace_s: float = 60.0) -> int:
    """Queue again every open delivery overdue by ``grace_s``: its message was lost (a
    broker restart, a worker killed, a crash between commit and queueing). A second
    message for a delivery still queued is harmless (``delivery_attempt`` is due-checked
    under a row lock)."""
    cutoff = timezone.now() - timedelta(seconds=grace_s)
    ids = list(Delivery.objects.filter(status__in=DELIVERY_OPEN, next_attempt_at__lt=cutoff)
               .values_list("pk", flat=True)[:1000])
    with transaction.atomic():
        for pk in ids:
            _queue(pk)
    return len(ids)
