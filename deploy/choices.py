"""States of networks and nodes, and the only moves between them.

Nothing outside :mod:`deploy.states` (``network_transition`` / ``node_transition``) writes
a ``status`` field; those functions consult the tables here and refuse any other move.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class NetworkStatus(models.TextChoices):
    # Waiting for platform staff (the tenant's plan or policy requires approval).
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    REJECTED = "rejected", "Rejected"
    REQUESTED = "requested", "Requested"
    PROVISIONING = "provisioning", "Provisioning"
    RUNNING = "running", "Running"
    DEGRADED = "degraded", "Degraded"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    # Every validator halted and restarted on another ledger version (network upgrade).
    UPGRADING = "upgrading", "Upgrading"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"
    FAILED = "failed", "Failed"


S = NetworkStatus

# from -> allowed targets. "failed" is reachable from every non-terminal state because any
# step can fail; a failed network can be retried (provisioning/starting) or deleted.
NETWORK_TRANSITIONS: dict[str, frozenset[str]] = {
    # Nothing runs yet: staff approve (-> requested, provisioning queued) or reject; the
    # tenant may withdraw the request by deleting it.
    S.PENDING_APPROVAL: frozenset({S.REQUESTED, S.REJECTED, S.DELETING}),
    S.REJECTED: frozenset({S.DELETING}),
    S.REQUESTED: frozenset({S.PROVISIONING, S.FAILED, S.DELETING}),
    S.PROVISIONING: frozenset({S.RUNNING, S.DEGRADED, S.FAILED, S.DELETING}),
    S.RUNNING: frozenset({S.DEGRADED, S.STOPPING, S.DELETING, S.FAILED, S.UPGRADING}),
    S.DEGRADED: frozenset({S.RUNNING, S.STOPPING, S.DELETING, S.FAILED}),
    S.STOPPING: frozenset({S.STOPPED, S.FAILED, S.DELETING}),
    S.STOPPED: frozenset({S.STARTING, S.DELETING}),
    S.STARTING: frozenset({S.RUNNING, S.DEGRADED, S.FAILED, S.STOPPING, S.DELETING}),
    # Only the upgrade's own workflow leaves it: running at the new version, or failed.
    S.UPGRADING: frozenset({S.RUNNING, S.FAILED, S.DELETING}),
    S.FAILED: frozenset({S.PROVISIONING, S.STARTING, S.DELETING}),
    S.DELETING: frozenset({S.DELETED, S.FAILED}),
    S.DELETED: frozenset(),
}

# Named groups, so callers never spell out lists of strings.
NETWORK_LIVE = frozenset({S.RUNNING, S.DEGRADED})  # nodes should be up and serving
NETWORK_BUSY = frozenset({S.REQUESTED, S.PROVISIONING, S.STOPPING, S.STARTING, S.UPGRADING,
                          S.DELETING})
NETWORK_TERMINAL = frozenset({S.DELETED})
NETWORK_STARTABLE = frozenset({S.STOPPED, S.FAILED})
NETWORK_STOPPABLE = frozenset({S.RUNNING, S.DEGRADED, S.STARTING})
# Everything that still counts against a tenant's quota (a rejected request does not).
NETWORK_COUNTED = frozenset(set(S.values) - {S.DELETED, S.REJECTED})


class DesiredState(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    DELETED = "deleted", "Deleted"


class NodeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    CRASHED = "crashed", "Crashed"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"
    DELETED = "deleted", "Deleted"


N = NodeStatus

NODE_TRANSITIONS: dict[str, frozenset[str]] = {
    N.PENDING: frozenset({N.STARTING, N.RUNNING, N.FAILED, N.DELETED, N.STOPPED}),
    N.STARTING: frozenset({N.RUNNING, N.CRASHED, N.FAILED, N.STOPPED, N.DELETED}),
    N.RUNNING: frozenset({N.CRASHED, N.STOPPED, N.FAILED, N.DELETED, N.STARTING}),
    N.CRASHED: frozenset({N.STARTING, N.RUNNING, N.STOPPED, N.FAILED, N.DELETED}),
    # stopped -> crashed: a node left down in a live network (a user's restart that failed
    # to start it again) is one the reconciler must bring back.
    N.STOPPED: frozenset({N.STARTING, N.RUNNING, N.CRASHED, N.DELETED, N.FAILED}),
    N.FAILED: frozenset({N.STARTING, N.RUNNING, N.STOPPED, N.DELETED}),
    N.DELETED: frozenset(),
}
NODE_UP = frozenset({N.RUNNING})
# Nodes the reconciler keeps alive while their network is live: started at least once and
# not given up on (a stopped node of a live network is one a failed restart left down).
NODE_SUPERVISED = frozenset({N.STARTING, N.RUNNING, N.CRASHED, N.STOPPED})
NODE_TERMINAL = frozenset({N.DELETED})


class NodeHealth(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    HEALTHY = "healthy", _("Healthy")
    UNHEALTHY = "unhealthy", _("Unhealthy")


class OperationKind(models.TextChoices):
    """Operation ``kind`` values this app records (the Operation model is the backend's)."""

    NETWORK_CREATE = "network.create", "Create network"
    NETWORK_START = "network.start", "Start network"
    NETWORK_STOP = "network.stop", "Stop network"
    NETWORK_DELETE = "network.delete", "Delete network"
    NODE_RESTART = "node.restart", "Restart node"
    NODE_RECOVER = "node.recover", "Recover crashed node"
    VALIDATOR_ADD = "network.validator_add", "Add validator"
    VALIDATOR_REMOVE = "network.validator_remove", "Remove validator"
    ORG_ADD = "network.org_add", "Register member organisation"
    MEMBER_REMOVE = "network.member_remove", "Remove consortium member"
    CHAINCODE_INSTALL = "chaincode.install", "Install chaincode"
    KEY_REVOKE = "key.revoke", "Take a revoked signing key off the chain"
    NETWORK_UPGRADE = "network.upgrade", "Upgrade network ledger"


class ConsortiumRole(models.TextChoices):
    """What a member tenant may do on another tenant's network."""

    VALIDATOR = "validator", _("Validator (reads, and runs its own validators)")
    OBSERVER = "observer", _("Observer (reads only)")


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"  # shown only; stored rows stay pending past expiry


def network_can_move(current: str, target: str) -> bool:
    return target in NETWORK_TRANSITIONS.get(current, frozenset())


def node_can_move(current: str, target: str) -> bool:
    return target in NODE_TRANSITIONS.get(current, frozenset())


class ClusterStatus(models.TextChoices):
    # The last check reached the API server, authenticated and found every right the
    # driver needs; "failing" keeps the code of what the last check found missing.
    READY = "ready", _("Ready")
    FAILING = "failing", _("Failing")
