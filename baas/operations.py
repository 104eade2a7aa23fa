"""Services for ``Operation``: create, move between states, report progress, enqueue.

Tasks call ``operation_transition`` to move RUNNING/SUCCEEDED/FAILED; the API calls it to
cancel. Every move is checked against ``baas.choices.OPERATION_TRANSITIONS`` under a row
lock, so two workers (or a worker and a cancel) can never both win.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from baas import events
from baas.choices import ACTIVE, TERMINAL, OperationState, can_transition
from baas.errors import Conflict, InvalidTransition, NotFound
from baas.models import Operation
from baas.operation_kinds import kind_spec

DEFAULT_DEADLINE = timedelta(hours=1)
STEP_LOG_LIMIT = 500  # keep the JSON column bounded for chatty tasks


def _target_ref(target: Any) -> tuple[str, str]:
    """A model instance, a ``(type, id)`` pair or ``None`` -> stored type and id."""
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    kind, ident = target
    return str(kind), str(ident)


def make_step(message: str, code: str = "", params: dict[str, Any] | None = None) -> dict[str, Any]:
    """One progress record. ``code`` and ``params`` let the portal render the step in the
    reader's language (``baas.messages``); ``message`` is the English text, kept for
    clients and for codes a renderer does not know."""
    step: dict[str, Any] = {"time": timezone.now().isoformat(), "message": message}
    if code:
        step["code"] = code
        step["params"] = params or {}
    return step


def operation_create(
    *,
    tenant: Any,
    actor: Any,
    kind: str,
    target: Any = None,
    idempotency_key: str | None = None,
    deadline: datetime | timedelta | None = DEFAULT_DEADLINE,
    params: dict[str, Any] | None = None,
) -> Operation:
    """Record queued work. With an ``idempotency_key`` already used by this tenant for the
    same kind, returns that operation instead (``op.created`` tells which happened)."""
    target_type, target_id = _target_ref(target)
    if isinstance(deadline, timedelta):
        deadline = timezone.now() + deadline
    key = idempotency_key or None
    if key:
        existing = Operation.objects.filter(tenant=tenant, idempotency_key=key).first()
        if existing is not None:
            return _replayed(existing, kind)
    try:
        with transaction.atomic():
            op = Operation.objects.create(
                tenant=tenant,
                actor=actor if getattr(actor, "pk", None) else None,
                kind=kind,
                target_type=target_type,
                target_id=target_id,
                idempotency_key=key,
                deadline=deadline,
                params=params or {},
                steps=[make_step("queued", "queued")],
            )
    except IntegrityError:
        # A concurrent request with the same key won the race.
        existing = Operation.objects.get(tenant=tenant, idempotency_key=key)
        return _replayed(existing, kind)
    op.created = True  # type: ignore[attr-defined]
    return op


def _replayed(existing: Operation, kind: str) -> Operation:
    if existing.kind != kind:
        raise Conflict(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different kind of request.",
        )
    existing.created = False  # type: ignore[attr-defined]
    return existing


def operation_transition(
    *,
    operation_id: int,
    to: str,
    error_code: str | None = None,
    error_message: str | None = None,
    message: str | None = None,
    step: str = "",
    params: dict[str, Any] | None = None,
) -> Operation:
    """Move an operation to ``to`` or raise ``InvalidTransition`` (409). ``step`` and
    ``params`` name the step recorded (``make_step``); the default is the new state."""
    with transaction.atomic():
        try:
            op = Operation.objects.select_for_update().get(pk=operation_id)
        except Operation.DoesNotExist:
            raise NotFound("not_found", "Operation not found.") from None
        if not can_transition(op.state, to):
            raise InvalidTransition(
                "invalid_transition",
                f"An operation that is {op.state} cannot become {to}.",
                details={"state": op.state, "to": to},
            )
        now = timezone.now()
        op.state = to
        if to == OperationState.RUNNING and op.started_at is None:
            op.started_at = now
        if to in TERMINAL:
            op.finished_at = now
        if to == OperationState.SUCCEEDED:
            op.progress = 100
        if error_code:
            op.error_code = error_code
            op.error_message = error_message or ""
        # A free-text message with no step code is shown as it is; the bare state otherwise.
        code = step or ("" if message else to)
        op.steps = (op.steps + [make_step(message or to, code, params)])[-STEP_LOG_LIMIT:]
        op.save()
        if to in TERMINAL:
            operation_finished(op)
    return op


def operation_finished(op: Operation) -> None:
    """Publish ``operation.finished``. Called by every writer of a terminal state (here and
    ``baas.runner``) inside the transaction that saves it: no event for a move that rolls
    back, and one per operation whoever finishes it."""
    events.publish(tenant=op.tenant_id, type=events.OPERATION_FINISHED, data={
        "operation": {"id": op.pk, "kind": op.kind, "state": op.state,
                      "target_type": op.target_type, "target_id": op.target_id,
                      "error_code": op.error_code, "error_message": op.error_message,
                      "finished_at": op.finished_at}},
        dedupe_key=f"operation.finished:{op.pk}")


def operation_progress(
    *, operation_id: int, percent: int, message: str, step: str = "",
    params: dict[str, Any] | None = None,
) -> Operation:
    """Record a step; progress never goes backwards and is clamped to 0..100."""
    with transaction.atomic():
        op = Operation.objects.select_for_update().get(pk=operation_id)
        if op.state in TERMINAL:
            return op  # a late report after cancel/fail changes nothing
        op.progress = max(op.progress, min(100, max(0, int(percent))))
        op.steps = (op.steps + [make_step(message, step, params)])[-STEP_LOG_LIMIT:]
        op.save(update_fields=["progress", "steps", "updated_at"])
    return op


def operation_cancel(*, operation_id: int, actor: Any = None) -> Operation:
    """Cancel active work. Kinds registered as not cancellable (``baas.operation_kinds``)
    answer 409 ``operation_not_cancellable``: their target would be left half-changed."""
    op = Operation.objects.filter(pk=operation_id).first()
    spec = kind_spec(op.kind) if op is not None else None
    if spec is not None and not spec.cancellable and op is not None and op.state in ACTIVE:
        raise Conflict(
            "operation_not_cancellable",
            spec.not_cancellable_reason or "This kind of operation cannot be cancelled.",
            details={"kind": op.kind},
        )
    by = getattr(actor, "email", "") or "system"
    return operation_transition(
        operation_id=operation_id,
        to=OperationState.CANCELLED,
        message=f"cancelled by {by}",
        step="cancelled_by",
        params={"actor": by},
    )


def operations_reap(*, now: datetime | None = None) -> list[int]:
    """Fail active operations past their deadline, saying why. Returns their ids."""
    now = now or timezone.now()
    reaped = []
    stale = Operation.objects.filter(
        state__in=[OperationState.QUEUED, OperationState.RUNNING], deadline__lt=now
    ).values_list("id", flat=True)
    for op_id in list(stale):
        try:
            operation_transition(
                operation_id=op_id,
                to=OperationState.FAILED,
                error_code="deadline_exceeded",
                error_message="The operation did not finish before its deadline.",
            )
            reaped.append(op_id)
        except InvalidTransition:
            continue  # finished meanwhile
    return reaped


def enqueue_after_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Queue a Celery task once the surrounding transaction commits (never before:
    the worker must see the rows the task is about)."""
    send: Callable[[], Any] = lambda: task.delay(*args, **kwargs)  # noqa: E731
    transaction.on_commit(send)
