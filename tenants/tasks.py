"""Celery tasks of the tenants app. Each takes ids, reloads rows and can run twice safely."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.mail import send_mail

from baas.choices import TERMINAL, OperationState
from baas.errors import InvalidTransition
from baas.models import Operation
from baas.operations import operation_progress, operation_transition
from tenants.links import email_verification_link, invitation_link, password_reset_link

logger = logging.getLogger(__name__)


@shared_task(name="tenants.tasks.email_verification_send_task")
def email_verification_send_task(user_id: int) -> None:
    from tenants.models import User

    user = User.objects.filter(pk=user_id).first()
    if user is None or user.email_verified:
        return  # nothing to verify any more
    send_mail(
        "Confirm your email address",
        f"Confirm your email address for BaaS by opening this link:\n\n"
        f"{email_verification_link(user=user)}\n",
        None,
        [user.email],
    )


@shared_task(name="tenants.tasks.password_reset_send_task")
def password_reset_send_task(user_id: int) -> None:
    from tenants.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    send_mail(
        "Reset your password",
        f"Someone asked to reset your BaaS password. If it was you, open:\n\n"
        f"{password_reset_link(user=user)}\n\nOtherwise ignore this email.",
        None,
        [user.email],
    )


@shared_task(
    name="tenants.tasks.invitation_send_task",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def invitation_send_task(operation_id: int, invitation_id: int) -> None:
    """Send one invitation email as operation ``operation_id``.

    Idempotent: a finished or cancelled operation is left alone, and a redelivered message
    for a running one does not send twice once the operation has succeeded.
    """
    from tenants.models import Invitation

    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return
    if op.state == OperationState.QUEUED:
        try:
            operation_transition(operation_id=op.pk, to=OperationState.RUNNING,
                                 message="worker picked up the invitation")
        except InvalidTransition:
            return  # cancelled meanwhile
    invitation = Invitation.objects.select_related("tenant", "invited_by").filter(
        pk=invitation_id
    ).first()
    if invitation is None or invitation.status != "pending":
        operation_transition(
            operation_id=op.pk, to=OperationState.FAILED, error_code="invitation_not_pending",
            error_message="The invitation was revoked, accepted or expired before sending.",
        )
        return
    operation_progress(operation_id=op.pk, percent=30, message="composing email")
    inviter = invitation.invited_by.email if invitation.invited_by else "An administrator"
    body = (
        f"{inviter} invited you to join {invitation.tenant.name} on BaaS as "
        f"{invitation.role}.\n\nAccept the invitation:\n\n{invitation_link(invitation=invitation)}"
        f"\n\nThe link expires at {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    operation_progress(operation_id=op.pk, percent=60, message=f"sending to {invitation.email}")
    try:
        send_mail(f"Invitation to {invitation.tenant.name}", body, None, [invitation.email])
    except OSError as exc:
        operation_progress(operation_id=op.pk, percent=60, message=f"send failed: {exc}; retrying")
        raise
    try:
        operation_transition(operation_id=op.pk, to=OperationState.SUCCEEDED,
                             message="email sent")
    except InvalidTransition:
        # Cancelled (or reaped) while sending: the email is out; the record keeps its state.
        logger.info("invitation operation %s finished after it was stopped", op.pk)
