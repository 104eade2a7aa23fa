"""The operation runner: every app's background task runs its work through ``run_operation``.

What it guarantees, so no workflow has to write it again:

- **One run at a time.** A run *claims* the operation (a random token and a heartbeat on
  the row, under a row lock). A second delivery of the same task (an ``acks_late``
  redelivery, a re-queue by the reconciler) finds a fresh heartbeat and exits quietly. A
  run whose heartbeat went stale may be taken over; the old run notices at its next
  heartbeat (``ClaimLost``) and stops without touching anything.
- **Progress and heartbeats.** ``run.step(...)`` records a step (a code, parameters and
  English text, rendered per reader by ``baas.messages``); ``run.beat()`` inside long waits
  keeps the claim fresh without a step record.
- **Cancellation.** Both check the operation's state; a user's cancel is seen between
  steps (``Cancelled``) and ends the run after the workflow's ``on_cancel``.
- **A failure policy per workflow.** ``on_failure(code, message)`` decides what a failure
  does to the target and returns the code to record. A workflow whose user changed their
  mind raises ``Superseded``: the operation ends ``failed``/``superseded`` and the target's
  state, which now belongs to the user's newer request, is left alone.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from baas.choices import TERMINAL, OperationState
from baas.models import Operation
from baas.operations import STEP_LOG_LIMIT, make_step, operation_finished

logger = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 120.0
_BEAT_EVERY_S = 5.0


class StepFailed(Exception):
    """A step of a workflow failed for a reason a person can act on."""

    def __init__(self, code: str, message: str, params: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = params or {}


class Superseded(StepFailed):
    """The user asked for something else since this work began; stop, change nothing."""

    def __init__(self, *, reason: str):
        super().__init__("superseded", reason)


class RunEnded(Exception):
    """This run must stop quietly (not a failure of the work)."""


class Cancelled(RunEnded):
    pass


class ClaimLost(RunEnded):
    """Another run took the operation over: what this run wrote may now be that run's."""


class OperationEnded(ClaimLost):
    """The operation ended (failed by the reaper or the reconciler, or is gone) while this
    run went on: no run will take it over, so what this run wrote is nobody's."""


class Run:
    """One claimed execution of an operation (``operation_id`` None: unrecorded work)."""

    def __init__(self, operation_id: int | None, claim: str = "") -> None:
        self.operation_id = operation_id
        self.claim = claim
        self._last_beat = time.monotonic()

    def step(self, percent: int, code: str, message: str, **params: Any) -> None:
        """Record progress; raises ``Cancelled``/``ClaimLost`` when this run must stop."""
        self._touch(step=make_step(message, code, params), percent=percent)

    def beat(self) -> None:
        """Keep the claim fresh during a long wait (at most one write every few seconds)."""
        if time.monotonic() - self._last_beat >= _BEAT_EVERY_S:
            self._touch()

    def check(self) -> None:
        """Raise if the run must stop, without recording anything. Inside a
        ``transaction.atomic()`` the operation's row stays locked until that transaction
        ends: what the caller writes there is written only while this run holds the claim
        (a run taking the operation over waits for the lock)."""
        self._touch(write=False)

    def _touch(self, *, step: dict[str, Any] | None = None, percent: int | None = None,
               write: bool = True) -> None:
        self._last_beat = time.monotonic()
        if self.operation_id is None:
            return
        with transaction.atomic():
            op = Operation.objects.select_for_update().filter(pk=self.operation_id).first()
            if op is None:
                raise OperationEnded("the operation is gone")
            if op.state == OperationState.CANCELLED:
                raise Cancelled("cancelled")
            if op.state in TERMINAL:
                raise OperationEnded(f"operation {op.pk} is {op.state}")
            if op.claim != self.claim:
                raise ClaimLost(f"operation {op.pk} is {op.state}, claimed by another run")
            if not write:
                return
            fields = ["heartbeat_at", "updated_at"]
            op.heartbeat_at = timezone.now()
            if step is not None:
                op.steps = (op.steps + [step])[-STEP_LOG_LIMIT:]
                fields.append("steps")
            if percent is not None:
                op.progress = max(op.progress, min(100, max(0, int(percent))))
                fields.append("progress")
            op.save(update_fields=fields)

    def end(self, to: str, code: str, message: str, *, error: tuple[str, str] | None = None,
            params: dict[str, Any] | None = None) -> bool:
        """Move the operation to a terminal state if this run still holds it."""
        if self.operation_id is None:
            return True
        with transaction.atomic():
            op = Operation.objects.select_for_update().filter(pk=self.operation_id).first()
            if op is None or op.state in TERMINAL or op.claim != self.claim:
                return False
            now = timezone.now()
            op.state, op.finished_at, op.heartbeat_at = to, now, now
            if to == OperationState.SUCCEEDED:
                op.progress = 100
            if error is not None:
                op.error_code, op.error_message = error[0], error[1][:4000]
            op.steps = (op.steps + [make_step(message, code, params)])[-STEP_LOG_LIMIT:]
            op.save()
            operation_finished(op)
        return True

    def succeed(self, code: str, message: str, **params: Any) -> None:
        self.end(OperationState.SUCCEEDED, code, message, params=params)

    def fail(self, code: str, message: str, params: dict[str, Any] | None = None) -> None:
        self.end(OperationState.FAILED, "failed_with_error", f"failed: {message}",
                 error=(code, message), params={"error": message, **(params or {})})


def claim(operation_id: int | None, *, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> Run | None:
    """Take the operation for this run, or None when another run holds it or it ended."""
    if operation_id is None:
        return Run(None)
    token = secrets.token_hex(8)
    now = timezone.now()
    with transaction.atomic():
        op = Operation.objects.select_for_update().filter(pk=operation_id).first()
        if op is None or op.state in TERMINAL:
            return None
        fresh = op.heartbeat_at is not None and (
            now - op.heartbeat_at < timedelta(seconds=stale_after_s))
        if op.state == OperationState.RUNNING and op.claim and fresh:
            logger.info("operation %s is held by another run; this delivery exits", op.pk)
            return None
        resumed = op.state == OperationState.RUNNING
        op.state = OperationState.RUNNING
        op.started_at = op.started_at or now
        op.claim, op.heartbeat_at = token, now
        code, message = ("resumed", "resumed by a new run") if resumed else ("running", "running")
        op.steps = (op.steps + [make_step(message, code)])[-STEP_LOG_LIMIT:]
        op.save()
    return Run(operation_id, token)


def _code_and_message(exc: BaseException) -> tuple[str, str]:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if isinstance(code, str) and code:
        return code, str(message or exc)
    return "internal_error", f"{exc.__class__.__name__}: {exc}"


def run_operation(
    operation_id: int | None,
    body: Callable[[Run], None],
    *,
    on_failure: Callable[[str, str], str | None] | None = None,
    on_cancel: Callable[[Run], None] | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    label: str = "",
) -> Run | None:
    """Claim ``operation_id`` and run ``body(run)``; see the module docstring.

    ``body`` ends the operation with ``run.succeed``; if it returns without doing so, the
    operation succeeds with ``done``. Returns the run (None when it was not claimed).
    """
    run = claim(operation_id, stale_after_s=stale_after_s)
    if run is None:
        return None
    try:
        body(run)
    except Cancelled:
        logger.info("%s: operation %s cancelled; stopping between steps", label, operation_id)
        if on_cancel is not None:
            on_cancel(run)
        return run
    except ClaimLost as exc:
        logger.warning("%s: %s; this run stops", label, exc)
        return run
    except Superseded as exc:
        logger.info("%s: superseded: %s", label, exc.message)
        run.fail("superseded", exc.message)
        return run
    except Exception as exc:  # noqa: BLE001 -- never leave an operation hanging
        code, message = _code_and_message(exc)
        if code == "internal_error":
            logger.exception("%s: unexpected error", label)
        else:
            logger.warning("%s: %s: %s", label, code, message)
        # A run that lost its claim (another run resumed the work) or was cancelled while
        # this step failed must not apply the failure policy to what is now another's.
        try:
            run.check()
        except Cancelled:
            if on_cancel is not None:
                on_cancel(run)
            return run
        except ClaimLost:
            logger.warning("%s: failed after losing its claim; the failure is dropped", label)
            return run
        if on_failure is not None:
            try:
                code = on_failure(code, message) or code
            except Exception:  # noqa: BLE001 -- the failure itself must still be recorded
                logger.exception("%s: failure policy raised", label)
        run.fail(code, message)
        return run
    run.succeed("done", "done")  # no-op when the body already ended the operation
    return run


def poll_until(
    check: Callable[[], Any],
    *,
    timeout_s: float,
    interval_s: float = 0.25,
    run: Run | None = None,
) -> Any:
    """Call ``check`` until it returns something truthy or ``timeout_s`` passes (then
    return the last falsy result). Keeps ``run``'s claim fresh meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            return result
        if run is not None:
            run.beat()
        time.sleep(interval_s)
