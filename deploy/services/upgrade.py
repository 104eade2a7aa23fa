"""Network upgrades: every validator of a network moves to another ledger version.

Governance of the network's software, so only through here: an admin of the network's
owner (``deploy`` scope on tokens) asks; the service checks the version and the network,
records a ``network.upgrade`` operation and an audit record, and the workflow
(``deploy.workflows.upgrade``) halts and restarts the validators on the new version. The
target is the control plane's current ``ledger/``: never an older runtime a driver still
keeps.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from baas.choices import ACTIVE
from baas.errors import Conflict, ValidationFailed
from baas.models import Operation
from baas.operations import enqueue_after_commit, operation_create
from deploy import conf, platform, tasks
from deploy.choices import NetworkStatus, OperationKind
from deploy.drivers import DriverError
from deploy.drivers.runtimes import VERSION_RE, current_version
from deploy.errors import driver_app_error
from deploy.guards import no_active_validator_change, require_owner
from deploy.models import Network


def network_upgrade(
    *, tenant: Any, actor: Any, network: Network, version: Any = None, request: Any = None,
) -> Operation:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, network)
    if version in (None, ""):
        try:
            version = current_version()
        except DriverError as exc:  # BAAS_LEDGER_SOURCE names no ledger package
            raise driver_app_error(exc) from exc
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise ValidationFailed(
            "invalid_ledger_version",
            _("A ledger version is the 16 hexadecimal digits of a ledger/ source hash."),
            details={"ledger_version": str(version)[:80]})
    try:
        current = current_version()
    except DriverError as exc:
        raise driver_app_error(exc) from exc
    if version != current:
        # Only forward, to what this control plane ships: a tenant may not move its network
        # to an older runtime (one before a sandbox fix, say) that a driver still keeps.
        raise ValidationFailed(
            "upgrade_target_not_allowed",
            _("A network can be upgraded only to the ledger version this platform runs "
              "(%(current)s).") % {"current": current},
            details={"ledger_version": version, "current": current})
    with transaction.atomic():
        locked = Network.objects.select_for_update().get(pk=network.pk)
        if locked.status != NetworkStatus.RUNNING:
            raise Conflict(
                "network_not_running",
                _("The network is %(status)s; it must run, with every validator up, to be "
                  "upgraded.") % {"status": locked.status},
                details={"status": locked.status})
        if locked.ledger_version == version:
            raise Conflict(
                "upgrade_not_needed",
                _("The network already runs ledger %(version)s.") % {"version": version},
                details={"ledger_version": version})
        no_active_validator_change(locked)
        restarting = Operation.objects.filter(
            kind=OperationKind.NODE_RESTART, state__in=ACTIVE, target_type="deploy.node",
            target_id__in=[str(pk) for pk in locked.nodes.values_list("pk", flat=True)])
        if restarting.exists():
            raise Conflict("operation_in_progress",
                           _("A node of this network is being restarted; wait for that to "
                             "finish."))
        op = operation_create(
            tenant=tenant, actor=actor, kind=OperationKind.NETWORK_UPGRADE,
            target=("deploy.network", locked.pk),
            deadline=timedelta(seconds=conf.setting("DEPLOY_START_DEADLINE_S")),
            params={"from": locked.ledger_version, "to": version},
        )
        platform.audit(tenant=tenant, actor=actor, action="network.upgrade", target=locked,
                       request=request,
                       metadata={"from": locked.ledger_version, "to": version})
        enqueue_after_commit(tasks.network_upgrade_task, str(locked.pk), op.pk)
    return op
