"""Writes of the identity app: a network's DID registry, and the organisation's and its
people's ``did:baas`` DIDs (create, rotate, deactivate).

Joining the registry is governance of the network (the owner's admins, the ``deploy`` scope
on tokens, ``_did.set_namespace`` signed by the owner's managed identity through
``deploy.chain.governance_tx``). A DID operation is an ordinary ``_did`` transaction signed
by the acting person's (or token's) own key (``deploy.services.keys.signer_for``); the
authority over the DID is the controller signature inside its arguments, made here with a
sealed platform key (platform custody) or by the holder in their browser (holder custody,
two steps: ``did_prepare`` returns the exact bytes to sign).

The chain is the record: a failed write leaves no live row behind (a definite refusal
removes it, an ambiguous one marks it ``failed``), ``prev`` makes the chain refuse the
second of two concurrent rotations, and whatever may have committed without an answer (a
create, a rotation's new key, a deactivation) is read back from the chain before the
platform acts on it again.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from baas.errors import AppError, Conflict, PermissionDenied, ValidationFailed
from deploy import chain, conf, crypto, gateway, platform
from deploy.choices import NETWORK_LIVE
from deploy.guards import require_owner
from deploy.models import Network
from deploy.services import keys
from identity import selectors
from identity.choices import Custody, DidStatus, Subject
from identity.did.did_baas import default_state
from identity.models import Did, DidRegistry
from ledger.did_core import NAMESPACE
from ledger.ed25519 import is_valid_public_key
from ledger.system.did import derive_suffix, op_message

NAMESPACE_RE = NAMESPACE
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX128 = re.compile(r"^[0-9a-f]{128}$")
SUBJECTS = ("organisation", "me")


# -- operations -------------------------------------------------------------------------------
# The signed bytes, the suffix and namespace rules are the chain's own (ledger.system.did,
# ledger.did_core); the default state is the client library's (identity.did.did_baas).
def _verify(public_key_hex: str, message: bytes, signature_hex: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _public_key(value: Any) -> str:
    if not isinstance(value, str) or not HEX64.match(value.lower()):
        raise ValidationFailed("invalid_public_key",
                               _("The public key is 64 hexadecimal characters (a raw Ed25519 "
                                 "public key)."))
    value = value.lower()
    # The chain's own rule: a point on the curve, canonically encoded, not of small order
    # (a small-order key would let anyone forge "its" signatures).
    if not is_valid_public_key(bytes.fromhex(value)):
        raise ValidationFailed("invalid_public_key",
                               _("This is not an Ed25519 public key."))
    return value


def _signature(value: Any) -> str:
    if not isinstance(value, str) or not HEX128.match(value.lower()):
        raise ValidationFailed("invalid_signature",
                               _("The signature is 128 hexadecimal characters (Ed25519)."))
    return value.lower()


def _message_answer(message: bytes) -> dict[str, str]:
    return {"message_hex": message.hex(), "message_base64": base64.b64encode(message).decode()}


# -- registry --------------------------------------------------------------------------------
def _live(network: Network) -> None:
    if network.status not in NETWORK_LIVE:
        raise Conflict("network_not_running",
                       _("The network is %(status)s; it must be running.")
                       % {"status": network.status}, details={"status": network.status})


def registry_set(*, tenant: Any, actor: Any, network: Network, namespace: Any,
                 public: bool = False, request: Any = None) -> DidRegistry:
    """Join ``network`` to the DID registry under ``namespace`` (written on chain once), or,
    when it already is under that namespace, set ``public``."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, network)
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise ValidationFailed(
            "invalid_namespace",
            _("A namespace is 1 to 32 lower-case letters, digits and hyphens, and neither "
              "starts nor ends with a hyphen."))
    existing = selectors.registry_of(network)
    if existing is not None:
        if existing.namespace != namespace:
            raise Conflict("namespace_fixed",
                           _("This network's namespace is %(namespace)s; it never changes.")
                           % {"namespace": existing.namespace},
                           details={"namespace": existing.namespace})
        return registry_update(tenant=tenant, actor=actor, registry=existing, public=public,
                               request=request)
    if selectors.namespace_taken(namespace):
        raise Conflict("namespace_taken", _("Another network already uses this namespace."))
    _live(network)
    on_chain = selectors.chain_config(network).get("namespace")
    if on_chain and on_chain != namespace:
        raise _namespace_fixed(on_chain)
    try:  # the row reserves the namespace (unique) before the chain hears of it
        with transaction.atomic():
            registry = DidRegistry.objects.create(network=network, namespace=namespace,
                                                  public=bool(public),
                                                  created_by=_user(actor))
    except IntegrityError:
        raced = selectors.registry_of(network)
        if raced is not None and raced.namespace == namespace:
            return raced
        raise Conflict("namespace_taken",
                       _("Another network already uses this namespace.")) from None
    if not on_chain:
        try:
            # Only our own namespace counts as done: the chain's refusal names the one it
            # holds, which may be another (an earlier attempt that committed late).
            chain.governance_tx(network, "_did", "set_namespace", [namespace],
                                already_done=f"the namespace is already {namespace!r}")
        except Exception:
            # No answer (or a refusal) may hide a commit: the row stays only if the chain
            # holds this namespace; if it holds another, say which.
            held = _chain_namespace(network)
            if held != namespace:
                DidRegistry.objects.filter(pk=registry.pk).delete()
                if held:
                    raise _namespace_fixed(held) from None
                raise
        except BaseException:
            DidRegistry.objects.filter(pk=registry.pk).delete()
            raise
    _forget_registry(namespace)
    platform.audit(tenant=tenant, actor=actor, action="did.registry_create", target=network,
                   request=request, metadata={"namespace": namespace, "public": bool(public)})
    return registry


def _forget_registry(namespace: str) -> None:
    """The public resolver caches which network a namespace names and whether it is
    public: drop that now and again once this transaction commits (a resolution in
    between must not cache the old answer for long)."""
    from identity.ledger_reader import forget_registry

    forget_registry(namespace)
    transaction.on_commit(lambda: forget_registry(namespace))


def _namespace_fixed(namespace: str) -> Conflict:
    return Conflict("namespace_fixed",
                    _("This network's namespace is %(namespace)s; it never changes.")
                    % {"namespace": namespace}, details={"namespace": namespace})


def _chain_namespace(network: Network) -> str | None:
    """The namespace the chain holds, or None when it holds none or no node answers."""
    try:
        return selectors.chain_config(network).get("namespace")
    except AppError:
        return None


def registry_update(*, tenant: Any, actor: Any, registry: DidRegistry, public: Any,
                    request: Any = None) -> DidRegistry:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, registry.network)
    if not isinstance(public, bool):
        raise ValidationFailed("invalid_public", _("public is true or false."))
    if registry.public != public:
        DidRegistry.objects.filter(pk=registry.pk).update(public=public)
        registry.public = public
        _forget_registry(registry.namespace)
        platform.audit(tenant=tenant, actor=actor, action="did.registry_public",
                       target=registry.network, request=request,
                       metadata={"namespace": registry.namespace, "public": public})
    return registry


# -- DIDs ------------------------------------------------------------------------------------
def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _require_deploy_scope(token: Any) -> None:
    """The organisation's DID is its identity, governed like its networks' registries: a
    token needs ``deploy``, so an application's ``write`` token cannot rotate or end it."""
    if token is not None and "deploy" not in set(getattr(token, "scopes", None) or ()):
        raise PermissionDenied("insufficient_scope",
                               _("This API token lacks the '%(scope)s' scope.")
                               % {"scope": "deploy"}, details={"required_scope": "deploy"})


def _require_subject(*, tenant: Any, actor: Any, subject: Any, token: Any = None) -> None:
    if subject not in SUBJECTS:
        raise ValidationFailed("invalid_subject",
                               _("subject is 'organisation' or 'me'."))
    # The organisation's DID: its admins. One's own: any member who may act (not viewers).
    platform.require_role(tenant=tenant, actor=actor,
                          minimum="admin" if subject == "organisation" else "developer")
    if subject == "organisation":
        _require_deploy_scope(token)


def _is_member(tenant: Any, user_id: Any) -> bool:
    from tenants.models import Membership

    return user_id is not None and \
        Membership.objects.filter(tenant=tenant, user_id=user_id).exists()


def person_left(did: Did) -> bool:
    """A person's DID whose person is no longer a member (left, or the account is gone)."""
    return did.subject == Subject.PERSON and not _is_member(did.tenant, did.user_id)


def _require_controller(*, tenant: Any, actor: Any, did: Did, token: Any = None,
                        op: str = "update") -> None:
    if did.subject == Subject.ORGANISATION:
        platform.require_role(tenant=tenant, actor=actor, minimum="admin")
        _require_deploy_scope(token)
        return
    if op == "deactivate" and did.custody == Custody.PLATFORM and person_left(did):
        # Nobody may act for a person who left, yet their DID must not stay live under a
        # key only the platform holds: the organisation's admins may end it (never rotate
        # it, which would hand a person's identifier to someone else).
        platform.require_role(tenant=tenant, actor=actor, minimum="admin")
        _require_deploy_scope(token)
        return
    platform.require_role(tenant=tenant, actor=actor, minimum="developer")
    if did.user_id is None or did.user_id != getattr(actor, "pk", None):
        raise PermissionDenied("did_not_yours",
                               _("Only the person a DID belongs to changes it."))


def _registry_for(network: Network) -> DidRegistry:
    registry = selectors.registry_of(network)
    if registry is None:
        raise Conflict("did_registry_missing",
                       _("This network holds no DID registry yet; its owner's admins set "
                         "one up first."))
    _live(network)
    return registry


def did_prepare(*, tenant: Any, actor: Any, network: Network, subject: Any,
                public_key: Any) -> dict[str, Any]:
    """Holder custody, step one: the DID and the exact create-operation bytes the holder
    signs with the private half of ``public_key``. Nothing is stored."""
    _require_subject(tenant=tenant, actor=actor, subject=subject)
    registry = _registry_for(network)
    key = _public_key(public_key)
    suffix = derive_suffix(bytes.fromhex(key))
    state = default_state(key)
    message = op_message(network.chain_id, suffix, "create", 0, state)
    return {"did": f"did:baas:{registry.namespace}:{suffix}", "op": "create", "prev": 0,
            "state": state, **_message_answer(message)}


def _send(*, tenant: Any, actor: Any, token: Any, network: Network, function: str,
          op: dict[str, Any], request: Any) -> dict[str, Any]:
    """The ``_did`` transaction, signed by the acting person's (or token's) own key."""
    from ledger.tx import build_tx

    signer = keys.signer_for(network=network, tenant=tenant,
                             user=None if token is not None else _user(actor), token=token,
                             request=request)
    raw = build_tx(signer=signer, chain_id=network.chain_id, chaincode="_did",
                   function=function, args=[op])
    return gateway.broadcast_committed(network=network, raw=raw,
                                       timeout=conf.setting("DEPLOY_FIRST_BLOCK_TIMEOUT_S"))


def _refused(exc: AppError) -> AppError:
    log = str(exc.details.get("log", ""))
    return AppError("did_op_rejected",
                    _("The network refused the DID operation: %(log)s") % {"log": log},
                    status=422, details={"log": log, "hash": exc.details.get("hash")})


def did_create(*, tenant: Any, actor: Any, network: Network, subject: Any, custody: Any,
               public_key: Any = None, signature: Any = None, label: str = "",
               token: Any = None, request: Any = None) -> Did:
    _require_subject(tenant=tenant, actor=actor, subject=subject, token=token)
    if custody not in Custody.values:
        raise ValidationFailed("invalid_custody", _("custody is 'platform' or 'holder'."))
    registry = _registry_for(network)
    sealed = None
    if custody == Custody.PLATFORM:
        from ledger.tx import Signer

        controller = Signer.generate()
        key = controller.public_key_hex
        sealed = crypto.seal(controller.private_bytes())
    else:
        key = _public_key(public_key)
    suffix = derive_suffix(bytes.fromhex(key))
    state = default_state(key)
    message = op_message(network.chain_id, suffix, "create", 0, state)
    if custody == Custody.PLATFORM:
        sig = controller.sign(message).hex()
    else:
        sig = _signature(signature)
        if not _verify(key, message, sig):
            raise ValidationFailed("invalid_signature",
                                   _("The signature does not verify: sign the exact bytes "
                                     "the prepare step returned, with the private key of "
                                     "this public key."))
    did_text = f"did:baas:{registry.namespace}:{suffix}"
    user = _user(actor) if subject == "me" else None
    kind = Subject.ORGANISATION if subject == "organisation" else Subject.PERSON
    adopted = _earlier_attempt(did_text, tenant=tenant, subject=kind, user=user)
    if adopted is not None:
        platform.audit(tenant=tenant, actor=actor, action="did.create", target=adopted,
                       request=request, metadata={"did": did_text, "custody": custody,
                                                  "subject": subject, "adopted": True})
        return adopted
    try:
        with transaction.atomic():
            row = Did.objects.create(tenant=tenant, subject=kind, user=user, network=network,
                                     did=did_text,
                                     custody=custody, sealed_private_key=sealed,
                                     status=DidStatus.PENDING, label=label or "",
                                     created_by=_user(actor))
    except IntegrityError:
        if Did.objects.filter(did=did_text).exists():
            raise Conflict("did_exists", _("This key already created a DID.")) from None
        raise Conflict("did_exists",
                       _("The organisation already has a DID.") if user is None else
                       _("You already have a DID in this organisation; deactivate it "
                         "first.")) from None
    op = {"did": suffix, "op": "create", "prev": 0, "state": state, "key": "key-1", "sig": sig}
    _write(row, tenant=tenant, actor=actor, token=token, network=network, function="create",
           op=op, request=request, version=1, status=DidStatus.ACTIVE)
    platform.audit(tenant=tenant, actor=actor, action="did.create", target=row,
                   request=request, metadata={"did": did_text, "custody": custody,
                                              "subject": subject})
    return row


def _earlier_attempt(did_text: str, *, tenant: Any, subject: str, user: Any) -> Did | None:
    """A ``failed`` earlier create of the same DID (the same key), retried: the chain
    decides. If it committed after all, the row is brought in line and returned (sending
    again would be refused and, before, lost the row of a live DID); if the chain does not
    know it, the row goes and the create is sent again. Only for the same subject: another
    person holding a colleague's public key and signature does not take over their row."""
    row = Did.objects.filter(did=did_text).select_related("network").first()
    if row is None:
        return None
    same = row.tenant_id == tenant.pk and row.subject == subject and (
        subject == Subject.ORGANISATION or row.user_id == getattr(user, "pk", None))
    if row.status != DidStatus.FAILED or not same:
        raise Conflict("did_exists", _("This key already created a DID."))
    # No answer from the network: no decision either (raises, the row stays failed).
    record = selectors.chain_record(row.network, selectors.suffix_of(did_text))
    if record is None:
        Did.objects.filter(pk=row.pk, status=DidStatus.FAILED).delete()
        return None
    row = did_refresh(did=row, record=record)
    if row.status == DidStatus.FAILED:  # on chain, but another live DID holds the slot
        raise Conflict("did_exists",
                       _("The organisation already has a DID.") if user is None else
                       _("You already have a DID in this organisation; deactivate it "
                         "first."))
    return row


def _write(row: Did, *, tenant: Any, actor: Any, token: Any, network: Network,
           function: str, op: dict[str, Any], request: Any, version: int,
           status: str) -> None:
    """Send the operation; on success the row records ``version`` and ``status``. A
    definite refusal of a create removes the row; an ambiguous failure (no answer, no
    block in time) marks a create ``failed`` (it may still commit: ``did_refresh`` reads
    the chain). Rotations and deactivations leave the row as it was."""
    try:
        _send(tenant=tenant, actor=actor, token=token, network=network, function=function,
              op=op, request=request)
    except AppError as exc:
        if function == "create":
            if exc.code == "tx_rejected":
                Did.objects.filter(pk=row.pk).delete()
            else:
                Did.objects.filter(pk=row.pk).update(status=DidStatus.FAILED)
        if exc.code == "tx_rejected":
            current = selectors.chain_record(network, selectors.suffix_of(row.did))
            if current is not None and function != "create" \
                    and current.get("version") != op["prev"]:
                raise Conflict("did_version_conflict",
                               _("The DID changed on the chain meanwhile (now version "
                                 "%(version)s); reload and try again.")
                               % {"version": current.get("version")},
                               details={"version": current.get("version")}) from None
            raise _refused(exc) from None
        raise
    except BaseException:
        if function == "create":
            Did.objects.filter(pk=row.pk).update(status=DidStatus.FAILED)
        raise
    Did.objects.filter(pk=row.pk).update(version=version, status=status)
    row.version, row.status = version, status


def _current(did: Did, *, op: str = "update") -> dict[str, Any]:
    """The chain's latest record of ``did``: 409 when it is not (or no longer) live. A
    ``failed`` create that committed late but cannot become active (another live DID took
    its place) may still be deactivated, so it does not stay live and unmanaged."""
    if did.status == DidStatus.DEACTIVATED:
        raise Conflict("did_deactivated", _("This DID is deactivated; that is final."))
    ending_failed = op == "deactivate" and did.status == DidStatus.FAILED
    if did.status != DidStatus.ACTIVE and not ending_failed:
        raise Conflict("did_not_active",
                       _("This DID is not on the chain yet (%(status)s).")
                       % {"status": did.status}, details={"status": did.status})
    _live(did.network)
    record = selectors.chain_record(did.network, selectors.suffix_of(did.did))
    if record is None:
        raise Conflict("did_not_active", _("The network does not know this DID."),
                       details={"status": did.status})
    did_refresh(did=did, record=record)  # a write that committed without an answer
    if record.get("deactivated"):
        raise Conflict("did_deactivated", _("This DID is deactivated; that is final."))
    return record


def controller_keys(state: dict[str, Any]) -> dict[str, str]:
    """Method id -> public key (hex) of the Ed25519 keys that control a DID state."""
    return _controller_ids(state)


def _controller_ids(state: dict[str, Any]) -> dict[str, str]:
    """Method id -> public key of the keys that control the DID."""
    methods = {m.get("id"): m for m in state.get("verificationMethod") or []}
    return {i: methods[i]["publicKey"] for i in state.get("capabilityInvocation") or []
            if i in methods and methods[i].get("type") == "Ed25519"}


def _unsealed(sealed: Any) -> Any:
    from ledger.tx import Signer

    return Signer.from_private_bytes(crypto.unseal(bytes(sealed))) if sealed else None


def _promote_pending(did: Did, state: dict[str, Any]) -> None:
    """When the chain shows the pending key (a rotation that committed without an answer),
    it becomes the current key."""
    pending = _unsealed(did.pending_private_key)
    if pending is None or pending.public_key_hex not in _controller_ids(state).values():
        return
    Did.objects.filter(pk=did.pk).update(sealed_private_key=did.pending_private_key,
                                         pending_private_key=None)
    did.sealed_private_key, did.pending_private_key = did.pending_private_key, None


def _platform_signer(did: Did, state: dict[str, Any]) -> tuple[Any, str]:
    _promote_pending(did, state)
    if not did.sealed_private_key:
        raise Conflict("did_key_missing", _("The platform holds no key of this DID."))
    signer = _unsealed(did.sealed_private_key)
    for key_id, public in _controller_ids(state).items():
        if public == signer.public_key_hex:
            return signer, key_id
    raise Conflict("did_key_mismatch",
                   _("The key the platform holds no longer controls this DID on the "
                     "chain."))


def _holder_key_id(state: dict[str, Any], message: bytes, signature: str) -> str:
    for key_id, public in _controller_ids(state).items():
        if _verify(public, message, signature):
            return key_id
    raise ValidationFailed("invalid_signature",
                           _("The signature does not verify with a key that controls this "
                             "DID: sign the exact bytes the prepare step returned."))


def _check_prev(prev: Any, record: dict[str, Any]) -> None:
    if prev is not None and prev != record.get("version"):
        raise Conflict("did_version_conflict",
                       _("The DID changed on the chain meanwhile (now version "
                         "%(version)s); reload and try again.")
                       % {"version": record.get("version")},
                       details={"version": record.get("version")})


def _rotated_state(public_key_hex: str, prev: int) -> dict[str, Any]:
    return default_state(public_key_hex, key_id=f"key-{prev + 1}")


def did_prepare_change(*, tenant: Any, actor: Any, did: Did, op: Any,
                       public_key: Any = None, token: Any = None) -> dict[str, Any]:
    """Holder custody: the bytes to sign for a rotation (``op="update"``, the new public
    key) or a deactivation, against the DID's current version on the chain."""
    if op not in ("update", "deactivate"):
        raise ValidationFailed("invalid_op", _("op is 'update' or 'deactivate'."))
    _require_controller(tenant=tenant, actor=actor, did=did, token=token, op=op)
    record = _current(did, op=op)
    prev = int(record["version"])
    state = _rotated_state(_public_key(public_key), prev) if op == "update" else None
    message = op_message(did.network.chain_id, selectors.suffix_of(did.did), op, prev, state)
    return {"did": did.did, "op": op, "prev": prev, "state": state, **_message_answer(message)}


def did_rotate(*, tenant: Any, actor: Any, did: Did, public_key: Any = None,
               signature: Any = None, prev: Any = None, token: Any = None,
               request: Any = None) -> Did:
    """Replace the controller key: platform custody makes and seals a new key; holder
    custody relays the update the holder signed with the current key for ``public_key``."""
    _require_controller(tenant=tenant, actor=actor, did=did, token=token)
    record = _current(did)
    _check_prev(prev, record)
    version = int(record["version"])
    suffix = selectors.suffix_of(did.did)
    new_sealed = None
    if did.custody == Custody.PLATFORM:
        from ledger.tx import Signer

        signer, key_id = _platform_signer(did, record.get("state") or {})
        # The new key is sealed and stored before the rotation is sent: if it commits
        # without an answer, the platform still holds the key that controls the DID. A
        # pending key the chain has not shown yet is rotated to again, never replaced:
        # its earlier rotation may still commit.
        new_sealed = did.pending_private_key
        if new_sealed is None:
            candidate = crypto.seal(Signer.generate().private_bytes())
            # Only if no concurrent rotation stored one first: two rotations at once must
            # rotate to the same key, whichever of them the chain takes.
            if Did.objects.filter(pk=did.pk, pending_private_key__isnull=True).update(
                    pending_private_key=candidate):
                new_sealed = candidate
            else:
                new_sealed = Did.objects.values_list(
                    "pending_private_key", flat=True).get(pk=did.pk)
                if new_sealed is None:  # that rotation was seen through meanwhile
                    raise Conflict("did_version_conflict",
                                   _("This DID was just changed by someone else; look at "
                                     "it again and retry."))
        new_sealed = bytes(new_sealed)
        fresh = _unsealed(new_sealed)
        did.pending_private_key = new_sealed
        state = _rotated_state(fresh.public_key_hex, version)
        message = op_message(did.network.chain_id, suffix, "update", version, state)
        sig = signer.sign(message).hex()
    else:
        state = _rotated_state(_public_key(public_key), version)
        message = op_message(did.network.chain_id, suffix, "update", version, state)
        sig = _signature(signature)
        key_id = _holder_key_id(record.get("state") or {}, message, sig)
    op = {"did": suffix, "op": "update", "prev": version, "state": state, "key": key_id,
          "sig": sig}
    _write(did, tenant=tenant, actor=actor, token=token, network=did.network,
           function="update", op=op, request=request, version=version + 1,
           status=DidStatus.ACTIVE)
    if new_sealed is not None:
        Did.objects.filter(pk=did.pk).update(sealed_private_key=new_sealed,
                                             pending_private_key=None)
        did.sealed_private_key, did.pending_private_key = new_sealed, None
    platform.audit(tenant=tenant, actor=actor, action="did.rotate", target=did,
                   request=request, metadata={"did": did.did, "version": version + 1})
    return did


def did_deactivate(*, tenant: Any, actor: Any, did: Did, signature: Any = None,
                   prev: Any = None, token: Any = None, request: Any = None) -> Did:
    """Deactivate for good: a version with no state; the platform's key is wiped."""
    _require_controller(tenant=tenant, actor=actor, did=did, token=token, op="deactivate")
    record = _current(did, op="deactivate")
    _check_prev(prev, record)
    version = int(record["version"])
    suffix = selectors.suffix_of(did.did)
    message = op_message(did.network.chain_id, suffix, "deactivate", version, None)
    if did.custody == Custody.PLATFORM:
        signer, key_id = _platform_signer(did, record.get("state") or {})
        sig = signer.sign(message).hex()
    else:
        sig = _signature(signature)
        key_id = _holder_key_id(record.get("state") or {}, message, sig)
    op = {"did": suffix, "op": "deactivate", "prev": version, "state": None, "key": key_id,
          "sig": sig}
    _write(did, tenant=tenant, actor=actor, token=token, network=did.network,
           function="deactivate", op=op, request=request, version=version + 1,
           status=DidStatus.DEACTIVATED)
    Did.objects.filter(pk=did.pk).update(sealed_private_key=None, pending_private_key=None)
    did.sealed_private_key = did.pending_private_key = None
    platform.audit(tenant=tenant, actor=actor, action="did.deactivate", target=did,
                   request=request, metadata={"did": did.did, "version": version + 1})
    return did


def did_refresh(*, did: Did, record: dict[str, Any] | None = None) -> Did:
    """Bring a row in line with the chain's ``record`` (read here when not given): a
    create, rotation or deactivation that timed out may have committed. A deactivation
    seen wipes the platform's keys; a rotation seen promotes the pending key. No answer
    from the network leaves the row as it is."""
    if record is None:
        try:
            record = selectors.chain_record(did.network, selectors.suffix_of(did.did))
        except AppError:
            return did
        if record is None:
            return did
    version = int(record.get("version") or 0)
    if did.status == DidStatus.DEACTIVATED or version < did.version:
        # A deactivation is final, and a record older than what the platform wrote or saw
        # comes from a node that lags: neither moves the row back.
        return did
    if record.get("deactivated"):
        if did.sealed_private_key or did.pending_private_key \
                or did.status != DidStatus.DEACTIVATED or did.version != version:
            Did.objects.filter(pk=did.pk).update(status=DidStatus.DEACTIVATED,
                                                 version=version, sealed_private_key=None,
                                                 pending_private_key=None)
            did.status, did.version = DidStatus.DEACTIVATED, version
            did.sealed_private_key = did.pending_private_key = None
        return did
    _promote_pending(did, record.get("state") or {})
    if did.status == DidStatus.ACTIVE and did.version == version:
        return did
    try:
        with transaction.atomic():
            Did.objects.filter(pk=did.pk).update(status=DidStatus.ACTIVE, version=version)
    except IntegrityError:  # a newer live DID took its place meanwhile: leave it failed
        return did
    did.status, did.version = DidStatus.ACTIVE, version
    return did


def decode_hex_or_base64(value: Any) -> Any:
    """Signatures may come as hex (preferred) or base64 (what WebCrypto hands out)."""
    if not isinstance(value, str) or HEX128.match(value.lower()):
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    return raw.hex() if len(raw) == 64 else value
