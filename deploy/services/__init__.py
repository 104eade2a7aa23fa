"""Writes for networks and nodes: each service checks role and quota, records an
Operation, writes an audit record and queues its Celery task after commit.

Nothing here talks to a driver or waits on infrastructure; that is ``deploy.tasks``.
State moves go through ``network_transition`` / ``node_transition`` only.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baas.choices import ACTIVE
from baas.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ValidationFailed,
)
from baas.models import Operation
from baas.operations import (
    enqueue_after_commit,
    operation_create,
    operation_progress,
    operation_transition,
)
from baas.quotas import quota_nearly_used
from deploy import conf, consortium, platform, tasks
from deploy.choices import (
    NETWORK_COUNTED,
    NETWORK_STARTABLE,
    NETWORK_STOPPABLE,
    DesiredState,
    NetworkStatus,
    NodeStatus,
    OperationKind,
    network_can_move,
)
from deploy.drivers import AVAILABLE_DRIVERS, DriverError
from deploy.drivers.runtimes import current_version
from deploy.errors import driver_app_error
from deploy.guards import no_active_validator_change, not_busy_elsewhere, require_owner
from deploy.models import Cluster, Network, Node
from deploy.services.clusters import cluster_for_network, cluster_lock_for_network
from deploy.states import network_transition

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _deadline(name: str, default_s: int) -> timedelta:
    return timedelta(seconds=conf.setting(name))


def max_validators() -> int:
    return int(conf.setting("DEPLOY_MAX_VALIDATORS"))


# --- lifecycle services -------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    validators: int = 4
    driver: str = "local"
    public_access: bool = False
    # A registered cluster's id (``kubernetes`` only); None: the platform's own cluster.
    cluster: str | None = None


def _validate_spec(spec: NetworkSpec) -> None:
    if not isinstance(spec.name, str) or not NAME_RE.match(spec.name):
        raise ValidationFailed(
            "invalid_name",
            _("A network name is 1-63 lowercase letters, digits or hyphens, "
              "starting and ending with a letter or digit."),
            details={"name": spec.name},
        )
    if not isinstance(spec.validators, int) or isinstance(spec.validators, bool):
        raise ValidationFailed("invalid_size", _("validators must be a whole number."))
    if not 1 <= spec.validators <= max_validators():
        raise ValidationFailed(
            "invalid_size",
            _("A network has between 1 and %(max)s validators.") % {"max": max_validators()},
            details={"validators": spec.validators},
        )
    if spec.driver not in AVAILABLE_DRIVERS:
        raise ValidationFailed(
            "driver_unknown",
            _("Unknown driver '%(driver)s'; choose one of %(choices)s.")
            % {"driver": spec.driver, "choices": ", ".join(AVAILABLE_DRIVERS)},
            details={"driver": spec.driver},
        )


def _check_quota(*, tenant: Any, spec: NetworkSpec, count: bool = True) -> None:
    limits = platform.network_quota(tenant)
    if limits.max_validators is not None and spec.validators > limits.max_validators:
        raise QuotaExceeded(
            "quota_exceeded",
            _("Your plan allows at most %(limit)s validators per network.")
            % {"limit": limits.max_validators},
            details={"quota": "max_validators_per_network", "limit": limits.max_validators},
        )
    if count and limits.max_networks is not None:
        used = Network.objects.filter(tenant=tenant, status__in=NETWORK_COUNTED).count()
        if used >= limits.max_networks:
            raise QuotaExceeded(
                "quota_exceeded",
                _("Your plan allows at most %(limit)s networks.") % {"limit": limits.max_networks},
                details={"quota": "max_networks", "limit": limits.max_networks, "used": used},
            )
        # Inside network_create's transaction: a create refused after this publishes nothing.
        quota_nearly_used(tenant=tenant, quota="max_networks", limit=limits.max_networks,
                          used=used)


def _chain_id(name: str) -> str:
    return f"{name[:30]}-{secrets.token_hex(4)}"


def network_create(
    *,
    tenant: Any,
    actor: Any,
    spec: NetworkSpec,
    idempotency_key: str | None = None,
    request: Any = None,
    on_behalf: bool = False,
) -> tuple[Network, Operation]:
    """Record a network and queue its provisioning. Same ``idempotency_key`` -> same result.

    When the tenant needs platform approval (``platform.approval_required``) the network
    stays ``pending_approval`` and its operation queued without a deadline; nothing is
    queued until staff approve. ``on_behalf``: platform staff create it for the tenant
    (no membership needed, no approval: staff creating it is the approval).
    """
    if on_behalf:
        if not platform.is_staff(actor):
            raise NotFound("not_found", "Not found.")
    else:
        platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    pending = not on_behalf and platform.approval_required(tenant)
    if idempotency_key:
        replay = Operation.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if replay is not None:
            if replay.kind != OperationKind.NETWORK_CREATE:
                raise Conflict(
                    "idempotency_key_reused",
                    _("This Idempotency-Key was already used for a different kind of request."),
                )
            return Network.objects.get(pk=replay.target_id), replay
    _validate_spec(spec)
    cluster = cluster_for_network(tenant=tenant, cluster_id=spec.cluster, driver=spec.driver)
    try:
        ledger_version = current_version()  # hashed outside the transaction
    except DriverError as exc:  # BAAS_LEDGER_SOURCE names no ledger package
        raise driver_app_error(exc) from exc
    try:
        with transaction.atomic():
            # Lock the tenant row: two concurrent creates cannot both pass the quota, even
            # for a tenant's first network (locking its networks locked an empty set).
            type(tenant).objects.select_for_update().filter(pk=tenant.pk).first()
            if cluster is not None:  # gone or failing since it was chosen: refused, not 500
                cluster = cluster_lock_for_network(cluster=cluster)
            _check_quota(tenant=tenant, spec=spec)
            if Network.objects.filter(tenant=tenant, name=spec.name).visible().exists():
                raise Conflict(
                    "network_name_taken",
                    _("You already have a network called '%(name)s'.") % {"name": spec.name},
                    details={"name": spec.name},
                )
            network = Network.objects.create(
                tenant=tenant,
                name=spec.name,
                chain_id=_chain_id(spec.name),
                validator_count=spec.validators,
                driver=spec.driver,
                cluster=cluster,
                public_access=bool(spec.public_access),
                desired_state=DesiredState.RUNNING,
                created_by=actor if getattr(actor, "pk", None) else None,
                engine_version=getattr(settings, "COMETBFT_VERSION", "0.38.26"),
                # Pinned again when provisioning starts (nothing has run before that).
                ledger_version=ledger_version,
                # The initial state, not a move: nothing else can see the row yet.
                status=NetworkStatus.PENDING_APPROVAL if pending else NetworkStatus.REQUESTED,
            )
            op = operation_create(
                tenant=tenant,
                actor=actor,
                kind=OperationKind.NETWORK_CREATE,
                target=("deploy.network", network.pk),
                idempotency_key=idempotency_key,
                # A request waiting for staff has no deadline yet; approval sets it.
                deadline=None if pending else _deadline("DEPLOY_PROVISION_DEADLINE_S", 600),
            )
            platform.audit(
                tenant=tenant, actor=actor, action="network.create", target=network,
                request=request,
                metadata={"validators": spec.validators, "driver": spec.driver,
                          "pending_approval": pending, "on_behalf": on_behalf,
                          **({"cluster": str(cluster.pk)} if cluster else {})},
            )
            if pending:
                op = operation_progress(operation_id=op.pk, percent=0,
                                        message="waiting for platform approval")
            else:
                enqueue_after_commit(tasks.network_provision_task, str(network.pk), op.pk)
    except IntegrityError:
        # Lost a race: another request with the same key or name committed first.
        if idempotency_key:
            replay = Operation.objects.filter(
                tenant=tenant, idempotency_key=idempotency_key
            ).first()
            if replay is not None:
                return Network.objects.get(pk=replay.target_id), replay
        if cluster is not None and not Cluster.objects.filter(pk=cluster.pk).exists():
            raise ValidationFailed("cluster_unknown", _("No such cluster."),
                                   details={"cluster": str(cluster.pk)}) from None
        raise Conflict(
            "network_name_taken",
            _("You already have a network called '%(name)s'.") % {"name": spec.name},
        ) from None
    return network, op


def _lifecycle(
    *,
    tenant: Any,
    actor: Any,
    network: Network,
    kind: str,
    allowed_from: frozenset[str],
    to: str,
    desired: str,
    task: Any,
    minimum_role: str,
    deadline_setting: str,
    request: Any = None,
) -> Operation:
    platform.require_role(tenant=tenant, actor=actor, minimum=minimum_role)
    require_owner(tenant, network)
    with transaction.atomic():
        locked = Network.objects.select_for_update().get(pk=network.pk)
        if locked.status not in allowed_from:
            raise Conflict(
                "invalid_transition",
                _("A network that is %(status)s cannot be asked to %(verb)s.")
                % {"status": locked.status, "verb": kind.split(".")[-1]},
                details={"status": locked.status},
            )
        # An export or backup stops and starts the validators one by one: a start, stop or
        # delete now would race it (another app's work, seen through deploy.guards).
        not_busy_elsewhere(locked)
        locked.desired_state = desired
        locked.save(update_fields=["desired_state", "updated_at"])
        network_transition(network_id=locked.pk, to=to)
        op = operation_create(
            tenant=tenant, actor=actor, kind=kind, target=("deploy.network", locked.pk),
            deadline=_deadline(deadline_setting, 300),
        )
        platform.audit(tenant=tenant, actor=actor, action=kind, target=locked, request=request)
        enqueue_after_commit(task, str(locked.pk), op.pk)
    return op


def network_start(*, tenant: Any, actor: Any, network: Network, request: Any = None) -> Operation:
    return _lifecycle(
        tenant=tenant, actor=actor, network=network, kind=OperationKind.NETWORK_START,
        allowed_from=NETWORK_STARTABLE, to=NetworkStatus.STARTING, desired=DesiredState.RUNNING,
        task=tasks.network_start_task, minimum_role="developer",
        deadline_setting="DEPLOY_START_DEADLINE_S", request=request,
    )


def network_stop(*, tenant: Any, actor: Any, network: Network, request: Any = None) -> Operation:
    return _lifecycle(
        tenant=tenant, actor=actor, network=network, kind=OperationKind.NETWORK_STOP,
        allowed_from=NETWORK_STOPPABLE, to=NetworkStatus.STOPPING, desired=DesiredState.STOPPED,
        task=tasks.network_stop_task, minimum_role="developer",
        deadline_setting="DEPLOY_STOP_DEADLINE_S", request=request,
    )


def network_delete(
    *, tenant: Any, actor: Any, network: Network, request: Any = None
) -> Operation:
    """Delete from any state but ``deleted``: a failed or half-made network is cleanable."""
    deletable = frozenset(
        s for s in NetworkStatus.values if network_can_move(s, NetworkStatus.DELETING)
    )
    was_pending = network.status == NetworkStatus.PENDING_APPROVAL
    op = _lifecycle(
        tenant=tenant, actor=actor, network=network, kind=OperationKind.NETWORK_DELETE,
        allowed_from=deletable, to=NetworkStatus.DELETING, desired=DesiredState.DELETED,
        task=tasks.network_delete_task, minimum_role="admin",
        deadline_setting="DEPLOY_DELETE_DEADLINE_S", request=request,
    )
    if was_pending:  # the tenant withdrew its request: the waiting create will never run
        create = _create_operation(network)
        if create is not None and create.state == "queued":
            operation_transition(operation_id=create.pk, to="cancelled",
                                 message="withdrawn before approval")
    return op


def owner_or_runner(tenant: Any, node: Node) -> None:
    """A node is managed by the network's owner or by the member organisation running it."""
    tid = getattr(tenant, "pk", None)
    if tid not in (node.network.tenant_id, node.tenant_id):
        raise PermissionDenied(
            "node_not_yours", _("Only the network's owner or the organisation running this "
                               "node can do this."))


def node_restart(*, tenant: Any, actor: Any, node: Node, request: Any = None) -> Operation:
    platform.require_role(tenant=tenant, actor=actor, minimum="developer")
    network = node.network
    owner_or_runner(tenant, node)
    if network.status not in (NetworkStatus.RUNNING, NetworkStatus.DEGRADED):
        raise Conflict(
            "invalid_transition",
            _("Nodes can be restarted only while the network runs (it is %(status)s).")
            % {"status": network.status},
            details={"status": network.status},
        )
    if node.status == NodeStatus.DELETED:
        raise NotFound("not_found", _("Node not found."))
    with transaction.atomic():
        # The network row first (an export or backup takes it to check for restarts, so
        # the two never both start), then the node row: two restarts of one node never run
        # together.
        Network.objects.select_for_update().get(pk=network.pk)
        Node.objects.select_for_update().get(pk=node.pk)
        not_busy_elsewhere(network)  # an export or backup is stopping and starting nodes
        if Operation.objects.filter(kind=OperationKind.NODE_RESTART, target_type="deploy.node",
                                    target_id=str(node.pk), state__in=ACTIVE).exists():
            raise Conflict(
                "operation_in_progress",
                _("This node is already being restarted; wait for that to finish."),
            )
        op = operation_create(
            tenant=tenant, actor=actor, kind=OperationKind.NODE_RESTART,
            target=("deploy.node", node.pk), deadline=_deadline("DEPLOY_START_DEADLINE_S", 300),
        )
        platform.audit(
            tenant=tenant, actor=actor, action="node.restart", target=node, request=request
        )
        enqueue_after_commit(tasks.node_restart_task, str(node.pk), op.pk)
    return op


def validator_add(
    *, tenant: Any, actor: Any, network: Network, request: Any = None
) -> Operation:
    """Add one validator to a running network, through the ledger's validator updates
    (an ``_identity.add_node`` transaction), without restarting the chain."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    consortium.require_writer(network, tenant)
    with transaction.atomic():
        locked = Network.objects.select_for_update().get(pk=network.pk)
        if locked.status != NetworkStatus.RUNNING:
            raise Conflict(
                "invalid_transition",
                _("Validators can be added only while the network runs (it is %(status)s).")
                % {"status": locked.status},
                details={"status": locked.status},
            )
        no_active_validator_change(locked)
        # The network's size counts against its owner's plan, whoever adds the validator.
        _check_quota_size(tenant=locked.tenant, size=locked.validator_count + 1)
        op = operation_create(
            tenant=tenant, actor=actor, kind=OperationKind.VALIDATOR_ADD,
            target=("deploy.network", locked.pk),
            deadline=_deadline("DEPLOY_PROVISION_DEADLINE_S", 600),
        )
        platform.audit(tenant=tenant, actor=actor, action="network.validator_add",
                       target=locked, request=request)
        enqueue_after_commit(tasks.validator_add_task, str(locked.pk), op.pk)
    return op


def validator_remove(*, tenant: Any, actor: Any, node: Node, request: Any = None) -> Operation:
    """Take a validator out of the set (voting power 0 on chain), then delete its node."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    owner_or_runner(tenant, node)
    with transaction.atomic():
        network = Network.objects.select_for_update().get(pk=node.network_id)
        if network.status != NetworkStatus.RUNNING:
            raise Conflict(
                "invalid_transition",
                _("Validators can be removed only while the network runs (it is %(status)s).")
                % {"status": network.status},
                details={"status": network.status},
            )
        if node.status == NodeStatus.DELETED:
            raise NotFound("not_found", _("Node not found."))
        if network.validator_count <= 1:
            raise Conflict("last_validator", _("A network keeps at least one validator."))
        no_active_validator_change(network)
        op = operation_create(
            tenant=tenant, actor=actor, kind=OperationKind.VALIDATOR_REMOVE,
            target=("deploy.network", network.pk),
            deadline=_deadline("DEPLOY_DELETE_DEADLINE_S", 300),
            params={"node_id": str(node.pk)},
        )
        platform.audit(tenant=tenant, actor=actor, action="network.validator_remove",
                       target=node, request=request)
        enqueue_after_commit(tasks.validator_remove_task, str(node.pk), op.pk)
    return op


def _check_quota_size(*, tenant: Any, size: int) -> None:
    if size > max_validators():
        raise ValidationFailed(
            "invalid_size",
            _("A network has between 1 and %(max)s validators.") % {"max": max_validators()},
        )
    _check_quota(tenant=tenant, spec=NetworkSpec(name="x", validators=size), count=False)


# --- platform approval ----------------------------------------------------------------------


def _create_operation(network: Network) -> Operation | None:
    return (
        Operation.objects.filter(
            target_type="deploy.network", target_id=str(network.pk),
            kind=OperationKind.NETWORK_CREATE,
        ).order_by("-created_at", "-id").first()
    )


def _pending_for_staff(*, actor: Any, network_id: Any) -> Network:
    """Lock a network for a staff decision. Non-staff learn nothing: 404, as for any id
    they cannot see."""
    if not platform.is_staff(actor):
        raise NotFound("not_found", "Network not found.")
    network = Network.objects.select_for_update().filter(pk=network_id).first()
    if network is None:
        raise NotFound("not_found", "Network not found.")
    if network.status != NetworkStatus.PENDING_APPROVAL:
        raise Conflict(
            "invalid_transition",
            f"Only a network pending approval can be approved or rejected "
            f"(it is {network.status}).",
            details={"status": network.status},
        )
    return network


def network_approve(
    *, actor: Any, network_id: Any, request: Any = None
) -> tuple[Network, Operation]:
    """Staff approve a pending network: it becomes ``requested`` and provisioning is queued
    after commit, on the operation the tenant already holds."""
    from datetime import datetime

    with transaction.atomic():
        network = _pending_for_staff(actor=actor, network_id=network_id)
        network = network_transition(network_id=network.pk, to=NetworkStatus.REQUESTED)
        op = _create_operation(network)
        if op is None or op.state != "queued":  # withdrawn or damaged: start afresh
            op = operation_create(
                tenant=network.tenant, actor=actor, kind=OperationKind.NETWORK_CREATE,
                target=("deploy.network", network.pk),
                deadline=_deadline("DEPLOY_PROVISION_DEADLINE_S", 600),
            )
        else:
            deadline: datetime = timezone.now() + _deadline("DEPLOY_PROVISION_DEADLINE_S", 600)
            Operation.objects.filter(pk=op.pk).update(deadline=deadline)
            op = operation_progress(operation_id=op.pk, percent=0,
                                    message=f"approved by {getattr(actor, 'email', 'staff')}")
        platform.audit(tenant=network.tenant, actor=actor, action="network.approve",
                       target=network, request=request)
        enqueue_after_commit(tasks.network_provision_task, str(network.pk), op.pk)
    return network, op


MAX_REASON = 500


def network_reject(
    *, actor: Any, network_id: Any, reason: str, request: Any = None
) -> Network:
    """Staff reject a pending network with a reason the tenant sees. Nothing was started,
    so nothing is stopped: the network ends ``rejected`` and its operation failed."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    with transaction.atomic():
        network = _pending_for_staff(actor=actor, network_id=network_id)
        if not reason:
            raise ValidationFailed("reason_required", "Say why the network is rejected.")
        if len(reason) > MAX_REASON:
            raise ValidationFailed(
                "reason_too_long", f"A reason has at most {MAX_REASON} characters."
            )
        network = network_transition(
            network_id=network.pk, to=NetworkStatus.REJECTED, error_code="network_rejected",
            error_message=reason,
        )
        op = _create_operation(network)
        if op is not None and op.state == "queued":
            operation_transition(
                operation_id=op.pk, to="failed", error_code="network_rejected",
                error_message=reason, message="rejected by the platform",
            )
        platform.audit(tenant=network.tenant, actor=actor, action="network.reject",
                       target=network, request=request, metadata={"reason": reason})
    network.refresh_from_db()
    return network
