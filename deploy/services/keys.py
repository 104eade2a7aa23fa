"""A signing key per person and per API token (``deploy.models.SigningKey``).

Whoever transacts through the gateway signs with a key of their own, registered on chain
under their organisation with no roles: chaincode, events and blocks show which person (or
which program's token) acted, and the organisation's admin key is left to governance.

A key is made and registered the first time it is needed (one ``_identity.add_member``
signed by the organisation's admin identity, in the request). When the membership ends or
the token is revoked, the key is destroyed at once (the sealed private key is wiped, so
nobody can sign with it again) and a ``key.revoke`` operation takes it off the chain.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baas.errors import AppError, PermissionDenied
from baas.operations import enqueue_after_commit, operation_create
from deploy import chain, crypto, platform, tasks
from deploy.choices import OperationKind
from deploy.models import Network, SigningKey


def member_id_for(*, user: Any = None, token: Any = None) -> str:
    if token is not None:
        return f"token-{token.prefix}"
    return f"user-{user.pk}"


def _live_key(network: Network, tenant: Any, member_id: str) -> SigningKey | None:
    return SigningKey.objects.filter(network=network, tenant=tenant, member_id=member_id,
                                     revoked_at__isnull=True).first()


def registered_signer(*, network: Network, tenant: Any, user: Any = None,
                      token: Any = None) -> Any:
    """The asker's key if it is already on chain, else None. Queries use this: a read
    never registers anything (a query runs unsigned until its asker has transacted)."""
    from ledger.tx import Signer

    key = _live_key(network, tenant, member_id_for(user=user, token=token))
    if key is None or key.registered_at is None:
        return None
    return Signer.from_private_bytes(crypto.unseal(key.sealed_private_key))


def signer_for(*, network: Network, tenant: Any, user: Any = None, token: Any = None,
               request: Any = None) -> Any:
    """The acting person's (or token's) own signer on ``network``: made and registered on
    chain when first needed."""
    from ledger.tx import Signer

    member_id = member_id_for(user=user, token=token)
    key = _live_key(network, tenant, member_id)
    if key is None:
        fresh = Signer.generate()
        try:
            with transaction.atomic():
                key = SigningKey.objects.create(
                    network=network, tenant=tenant, user=user if token is None else None,
                    token=token, member_id=member_id, public_key=fresh.public_key_hex,
                    sealed_private_key=crypto.seal(fresh.private_bytes()))
        except IntegrityError:  # a concurrent first request made it
            key = _live_key(network, tenant, member_id)
            if key is None:
                raise PermissionDenied("signing_key_revoked",
                                       _("This key was revoked with the membership or token "
                                         "it belonged to.")) from None
    signer = Signer.from_private_bytes(crypto.unseal(key.sealed_private_key))
    if key.registered_at is None:
        try:
            chain.add_member_key(network, tenant, member_id=member_id, signer=signer)
        except AppError as exc:
            if exc.code != "commit_timeout":
                raise
            raise AppError(
                "key_registration_pending",
                _("Registering your signing key on the chain is taking longer than usual; "
                  "your transaction was not sent. Send it again in a few seconds."),
                status=503, details={"registration_hash": exc.details.get("hash")},
            ) from None
        with transaction.atomic():
            locked = SigningKey.objects.select_for_update().get(pk=key.pk)
            if locked.registered_at is None:
                locked.registered_at = timezone.now()
                locked.save(update_fields=["registered_at"])
            if locked.revoked_at is not None:
                # Revoked while its registration was in flight: take it off again (the
                # removal queued at revocation may have run before the add committed).
                _queue_removal(locked)
        if locked.revoked_at is not None:
            raise PermissionDenied("signing_key_revoked",
                                   _("This key was revoked with the membership or token it "
                                     "belonged to."))
        platform.audit(tenant=tenant, actor=user, action="network.signing_key_registered",
                       target=network, request=request,
                       metadata={"member": member_id, "public_key": key.public_key})
    return signer


def _queue_removal(key: SigningKey) -> None:
    op = operation_create(tenant=key.tenant, actor=None, kind=OperationKind.KEY_REVOKE,
                          target=("deploy.signingkey", key.pk))
    enqueue_after_commit(tasks.signing_key_revoke_task, str(key.pk), op.pk)


def signing_keys_revoke(*, tenant: Any, user: Any = None, token: Any = None) -> int:
    """Destroy the keys of a membership (``user`` in ``tenant``) or of a token, on every
    network, and queue their removal from the chain. Returns how many were revoked.

    Removal is queued for every key, registered or not: a registration may be in flight
    or may have committed after its request gave up, and removing a key the chain does
    not hold is harmless."""
    keys = SigningKey.objects.filter(tenant=tenant, revoked_at__isnull=True)
    keys = keys.filter(token=token) if token is not None else keys.filter(
        member_id=member_id_for(user=user))
    revoked = 0
    with transaction.atomic():
        for key in keys.select_for_update():
            key.revoked_at = timezone.now()
            key.sealed_private_key = b""  # nobody signs with it again, on chain or not
            key.save(update_fields=["revoked_at", "sealed_private_key"])
            _queue_removal(key)
            revoked += 1
    return revoked


def on_membership_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    signing_keys_revoke(tenant=instance.tenant, user=instance.user)


def on_token_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.revoked_at is not None:
        signing_keys_revoke(tenant=instance.tenant, token=instance)
