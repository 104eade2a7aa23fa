"""The only code that moves the status of a network or a node.

Every move is checked against the tables in ``deploy.choices`` under a row lock, so two
actors (a task, the reconciler, a user's request) can never both win; an illegal move
raises ``InvalidTransition``. Tasks, workflows, the reconciler and services all come here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baas.errors import InvalidTransition
from deploy.choices import NetworkStatus, network_can_move, node_can_move
from deploy.models import Network, Node


def network_transition(
    *,
    network_id: Any,
    to: str,
    error_code: str = "",
    error_message: str = "",
    allow_same: bool = False,
) -> Network:
    """Move a network to ``to`` under a row lock, or raise ``InvalidTransition`` (409)."""
    with transaction.atomic():
        network = Network.objects.select_for_update().get(pk=network_id)
        if network.status == to and allow_same:
            return network
        if not network_can_move(network.status, to):
            raise InvalidTransition(
                "invalid_transition",
                _("A network that is %(status)s cannot become %(to)s.")
                % {"status": network.status, "to": to},
                details={"status": network.status, "to": to},
            )
        now = timezone.now()
        network.status = to
        network.status_changed_at = now
        if to in (NetworkStatus.FAILED, NetworkStatus.REJECTED):
            network.error_code = error_code or to
            network.error_message = error_message
        elif to in (NetworkStatus.RUNNING, NetworkStatus.PROVISIONING, NetworkStatus.STARTING):
            network.error_code, network.error_message = "", ""
        if to == NetworkStatus.RUNNING and network.running_since is None:
            network.running_since = now
        if to in (NetworkStatus.STOPPED, NetworkStatus.DELETED):
            network.running_since = None
        network.save()
    return network


def node_transition(*, node_id: Any, to: str, detail: str | None = None, **fields: Any) -> Node:
    """Move a node to ``to`` (same-state moves only update the extra fields)."""
    with transaction.atomic():
        node = Node.objects.select_for_update().get(pk=node_id)
        if node.status != to and not node_can_move(node.status, to):
            raise InvalidTransition(
                "invalid_transition",
                _("A node that is %(status)s cannot become %(to)s.")
                % {"status": node.status, "to": to},
                details={"status": node.status, "to": to},
            )
        node.status = to
        if detail is not None:
            node.detail = detail[:255]
        for key, value in fields.items():
            setattr(node, key, value)
        node.save()
    return node


def network_fail(
    *,
    network_id: Any,
    code: str,
    message: str,
    expected: frozenset[str] | None = None,
    desired: str | None = None,
) -> bool:
    """Mark a network failed with a readable reason; True if this call did.

    With ``expected``/``desired`` (a workflow's failure policy) it fails the network only
    while it is still in one of the states the failing work put it in and the user still
    wants what that work was for: a stop or delete asked for meanwhile is never turned
    into ``failed`` by the work it replaced.
    """
    with transaction.atomic():
        network = Network.objects.select_for_update().get(pk=network_id)
        if network.status == NetworkStatus.FAILED or not network_can_move(
            network.status, NetworkStatus.FAILED
        ):
            return False
        if expected is not None and network.status not in expected:
            return False
        if desired is not None and network.desired_state != desired:
            return False
        network_transition(
            network_id=network_id, to=NetworkStatus.FAILED,
            error_code=code or "provisioning_failed", error_message=(message or code)[:2000],
        )
    return True
