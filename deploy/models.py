"""Ledger networks, their validator nodes, and the secrets those nodes need.

Status fields are written only by ``deploy.states.network_transition`` and
``deploy.states.node_transition`` (see ``deploy/choices.py`` for the allowed moves).
Private keys live only in ``NodeKey`` / ``NetworkIdentity``, sealed with ``deploy.crypto``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from baas.querysets import TenantScopedQuerySet
from deploy.choices import (
    ClusterStatus,
    ConsortiumRole,
    DesiredState,
    InvitationStatus,
    NetworkStatus,
    NodeHealth,
    NodeStatus,
)


class ClusterQuerySet(TenantScopedQuerySet):
    def usable_by(self, tenant):
        """Clusters a network of ``tenant`` may run on: its own and the platform's."""
        return self.filter(Q(tenant=tenant) | Q(tenant__isnull=True))


class Cluster(models.Model):
    """A Kubernetes cluster networks of the ``kubernetes`` driver run on.

    ``tenant`` None: a platform cluster registered by staff, usable by every tenant. The
    kubeconfig is stored sealed (``deploy.crypto``), reduced to the one context chosen at
    registration with inline credentials only (``deploy.drivers.kubeconfig``); it is never
    returned, logged or put in an error message. Written only by
    ``deploy.services.clusters``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True,
                               on_delete=models.PROTECT, related_name="clusters")
    name = models.CharField(max_length=63)
    server = models.CharField(max_length=2048)  # the API server URL, shown to the tenant
    sealed_kubeconfig = models.BinaryField()
    status = models.CharField(max_length=20, choices=ClusterStatus.choices,
                              default=ClusterStatus.READY)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=64, blank=True, default="")
    # What the last check found, as a code and its parameters (never words: each reader
    # gets them in their own language, ``deploy.services.clusters.cluster_error``).
    last_error_params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"],
                                    name="deploy_cluster_name_unique_per_tenant"),
            # NULL tenants are distinct to the constraint above: platform names need their own.
            models.UniqueConstraint(fields=["name"], condition=Q(tenant__isnull=True),
                                    name="deploy_cluster_platform_name_unique"),
        ]

    def __str__(self) -> str:  # never the kubeconfig
        return self.name


class NetworkQuerySet(TenantScopedQuerySet):
    def visible(self):
        return self.exclude(status=NetworkStatus.DELETED)

    def reachable_by(self, tenant):
        """Networks ``tenant`` owns or is a consortium member of (``for_tenant`` stays
        owner-only, so nothing that writes widens by accident)."""
        return self.filter(
            Q(tenant=tenant) | Q(pk__in=NetworkMembership.objects.filter(tenant=tenant)
                                 .values("network_id"))
        )


class Network(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="networks")
    name = models.CharField(max_length=63)
    chain_id = models.CharField(max_length=50, unique=True)
    engine_version = models.CharField(max_length=20, default="0.38.26")
    # The ledger runtime the nodes run: the 16-hex hash of its ledger/ tree
    # (deploy.drivers.runtimes), pinned at creation and changed only by a network upgrade.
    ledger_version = models.CharField(max_length=16, blank=True, default="")
    # What the driver runs it from, when it says (docker: the node image id, sha256:...).
    runtime_ref = models.CharField(max_length=255, blank=True, default="")
    validator_count = models.PositiveSmallIntegerField()
    # A name in the driver registry (deploy/drivers/registry.py), checked by the services:
    # no choices here, so a new runtime needs no migration.
    driver = models.CharField(max_length=20, default="local")
    # Where a ``kubernetes`` network runs: a cluster of its tenant or of the platform; None
    # is the platform's own cluster (``BAAS_KUBE_KUBECONFIG`` or in-cluster config).
    # Deleting a cluster live networks use is refused (``cluster_in_use``).
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="networks")
    # Keys not registered on chain may transact (genesis ``open_access``): people outside
    # the tenant (donors, residents) act on a template's public page with their own keys.
    # Chaincode decides what such a key may do; system chaincode still needs registered
    # roles. Fixed at creation: it is part of the genesis.
    public_access = models.BooleanField(default=False)
    desired_state = models.CharField(
        max_length=20, choices=DesiredState.choices, default=DesiredState.RUNNING
    )
    status = models.CharField(
        max_length=20, choices=NetworkStatus.choices, default=NetworkStatus.REQUESTED
    )
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # Non-secret genesis document, kept so validators can be added and homes regenerated.
    genesis = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    running_since = models.DateTimeField(null=True, blank=True)

    objects = NetworkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A name is free again once its network is deleted.
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=~Q(status=NetworkStatus.DELETED),
                name="deploy_network_name_unique_per_tenant",
            ),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class NodeQuerySet(TenantScopedQuerySet):
    def for_tenant(self, tenant):
        # A node is visible to the network's owner and to the organisation running it.
        return self.filter(Q(network__tenant=tenant) | Q(tenant=tenant))


class Node(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="nodes")
    # The organisation that runs this validator (the owner, or a consortium member later).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    index = models.PositiveSmallIntegerField()
    moniker = models.CharField(max_length=64)
    host = models.CharField(max_length=255, blank=True, default="")
    p2p_port = models.PositiveIntegerField(null=True, blank=True)
    rpc_port = models.PositiveIntegerField(null=True, blank=True)
    abci_port = models.PositiveIntegerField(null=True, blank=True)
    # CometBFT's Prometheus listener as planned; null for nodes planned before metrics.
    metrics_port = models.PositiveIntegerField(null=True, blank=True)
    rpc_url = models.CharField(max_length=255, blank=True, default="")  # as the platform sees it
    validator_pub_key = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=20, choices=NodeStatus.choices, default=NodeStatus.PENDING)
    health = models.CharField(max_length=20, choices=NodeHealth.choices, default=NodeHealth.UNKNOWN)
    height = models.BigIntegerField(default=0)
    restart_count = models.PositiveIntegerField(default=0)
    detail = models.CharField(max_length=255, blank=True, default="")
    # Non-secret home files (path -> text): config, genesis, node.json. Keys are in NodeKey.
    home_config = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["network", "index"]
        constraints = [
            models.UniqueConstraint(fields=["network", "index"], name="deploy_node_index_unique"),
        ]

    def __str__(self) -> str:
        return self.moniker


class NodeKey(models.Model):
    """One secret home file of a node (CometBFT node key, validator key), sealed."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="keys")
    path = models.CharField(max_length=255)  # relative to the node home
    sealed = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "path"], name="deploy_nodekey_path_unique"),
        ]

    def __str__(self) -> str:  # never the content
        return f"{self.node_id}:{self.path}"


class NetworkIdentity(models.Model):
    """A tenant's managed ed25519 identity on a network, registered in genesis.

    The gateway signs ``{"chaincode","function","args"}`` requests with it on the tenant's
    behalf. The private key is sealed; only the public key is ever shown.
    """

    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="identities")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    organisation_id = models.CharField(max_length=64)
    member_id = models.CharField(max_length=64)
    public_key = models.CharField(max_length=64)
    sealed_private_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "tenant"], name="deploy_identity_one_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id}/{self.member_id}@{self.network_id}"


class NetworkPolicy(models.Model):
    """Per-tenant overrides of how networks are created, set by platform staff (admin).

    ``requires_approval`` None follows the plan (``DEPLOY_APPROVAL_PLANS``); True/False
    override it for this tenant.
    """

    tenant = models.OneToOneField(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="network_policy"
    )
    requires_approval = models.BooleanField(null=True, blank=True, default=None)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"network policy of {self.tenant_id}"


class ConsortiumInvitation(models.Model):
    """The owner tenant invites another tenant (by slug) to join one of its networks."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="invitations")
    invited_tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="consortium_invitations"
    )
    role = models.CharField(max_length=20, choices=ConsortiumRole.choices,
                            default=ConsortiumRole.VALIDATOR)
    status = models.CharField(max_length=20, choices=InvitationStatus.choices,
                              default=InvitationStatus.PENDING)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "invited_tenant"],
                condition=Q(status=InvitationStatus.PENDING),
                name="deploy_consortium_one_pending_invitation",
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.invited_tenant_id} -> {self.network_id} ({self.status})"

    @property
    def effective_status(self) -> str:
        from django.utils import timezone

        if self.status == InvitationStatus.PENDING and self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return self.status


class NetworkMembership(models.Model):
    """A tenant that joined another tenant's network: it reads the network and, with the
    validator role, runs validators of its own as its organisation on chain."""

    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="network_memberships"
    )
    role = models.CharField(max_length=20, choices=ConsortiumRole.choices,
                            default=ConsortiumRole.VALIDATOR)
    invitation = models.OneToOneField(
        ConsortiumInvitation, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="membership",
    )
    # Set once ``_identity.add_org`` for the member's organisation was approved on chain.
    org_registered_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["network", "tenant"],
                                    name="deploy_network_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} in {self.network_id} ({self.role})"


class SigningKey(models.Model):
    """The own ed25519 key of one person (or one API token) on one network, registered on
    chain as a member of its organisation without admin rights, so blocks, events and
    chaincode see who acted. The organisation's managed identity (``NetworkIdentity``)
    signs governance only.

    Made when first needed (``deploy.services.keys``); taken off the chain when the
    membership or the token ends. The private key is sealed; only the public key is shown.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="signing_keys")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    token = models.ForeignKey("tenants.ApiToken", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    member_id = models.CharField(max_length=64)  # on chain: "user-<id>" or "token-<prefix>"
    public_key = models.CharField(max_length=64)
    sealed_private_key = models.BinaryField()
    registered_at = models.DateTimeField(null=True, blank=True)
    # The membership or token ended: the key signs nothing more and leaves the chain.
    revoked_at = models.DateTimeField(null=True, blank=True)
    # ... and is off the chain (``_identity.remove_member`` committed, or never on it).
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One live key per person or token; a person who leaves and comes back gets a
            # fresh key, the revoked one stays as a record.
            models.UniqueConstraint(fields=["network", "tenant", "member_id"],
                                    condition=Q(revoked_at__isnull=True),
                                    name="deploy_signing_key_one_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}@{self.network_id}"
