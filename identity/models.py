"""DIDs the control plane manages, and the networks that hold a DID registry.

The chain is the record: a ``Did`` row is the platform's index of one ``did:baas`` DID
(whose is it, who holds its controller key, the last version the platform wrote or saw).
Documents and their history are read from the network, never from here.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from baas.querysets import TenantScopedQuerySet
from identity.choices import Custody, DidStatus, Subject


class DidRegistryQuerySet(TenantScopedQuerySet):
    tenant_field = "network__tenant"


class DidRegistry(models.Model):
    """A network that anchors DIDs: its namespace (written on chain once by
    ``_did.set_namespace``) and whether the public resolver may read it."""

    network = models.OneToOneField("deploy.Network", on_delete=models.CASCADE,
                                   related_name="did_registry")
    namespace = models.CharField(max_length=32, unique=True)
    # Opt-in: only then does the public resolver (/1.0/identifiers/) answer for it.
    public = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DidRegistryQuerySet.as_manager()

    def __str__(self) -> str:
        return f"did:baas:{self.namespace}"


class DidQuerySet(TenantScopedQuerySet):
    pass


class Did(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=16, choices=Subject.choices,
                               default=Subject.PERSON)
    # The person whose DID this is: empty for the organisation's own DID, and for a person's
    # whose account was deleted since (``subject`` still says it is a person's).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    network = models.ForeignKey("deploy.Network", on_delete=models.CASCADE, related_name="+")
    did = models.CharField(max_length=128, unique=True)
    custody = models.CharField(max_length=16, choices=Custody.choices)
    # Platform custody only: the current controller key (Ed25519, raw 32 bytes), sealed.
    sealed_private_key = models.BinaryField(null=True, blank=True)
    # Platform custody only: the key a rotation in flight hands control to, sealed and
    # stored before the rotation is sent, so a rotation that commits without an answer
    # (timeout, crash) never leaves the DID controlled by a key nobody holds. It becomes
    # ``sealed_private_key`` once the chain shows its public key.
    pending_private_key = models.BinaryField(null=True, blank=True)
    # The last version the platform wrote (or read back) on chain.
    version = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=DidStatus.choices,
                              default=DidStatus.PENDING)
    label = models.CharField(max_length=63, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DidQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live organisation DID per tenant (shown on its profile) ...
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(subject="organisation") & Q(status__in=["pending", "active"]),
                name="identity_one_org_did"),
            # ... and one live DID per person in each tenant.
            models.UniqueConstraint(
                fields=["tenant", "user"],
                condition=Q(subject="person") & Q(user__isnull=False)
                & Q(status__in=["pending", "active"]),
                name="identity_one_person_did"),
        ]

    def __str__(self) -> str:
        return self.did
