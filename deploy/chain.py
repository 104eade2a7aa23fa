"""The platform's own transactions on a network, and the waits that follow them.

Governance (organisations, validators, chaincode installs) is signed here with the owner
organisation's managed admin identity, and only here: the tenant-facing gateway refuses
every system chaincode (``_*``), so a call reaches this module only through a service that
checked the role and the ``deploy`` scope, recorded an operation and wrote an audit record.

A transaction still waiting for a block when CometBFT stops waiting is waited for by its
hash, never sent again (the ledger would refuse the replay anyway).
"""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from baas import events
from baas.errors import AppError
from baas.runner import Run, StepFailed
from deploy import conf, gateway, homes, rpc
from deploy.choices import NodeStatus
from deploy.models import Network, NetworkMembership, Node


class ApprovalPending(StepFailed):
    """A governed change was proposed, and the network's policy needs more organisations."""


def _timeout() -> float:
    return float(conf.setting("DEPLOY_FIRST_BLOCK_TIMEOUT_S"))


def governance_tx(
    network: Network, chaincode: str, function: str, args: Any, *, already_done: str = ""
) -> dict[str, Any]:
    """Send a system-chaincode call signed by the owner's governing identity and wait for
    its block. A refusal whose log contains ``already_done`` means an earlier run got there
    first (returns ``{}``). A proposal the policy keeps pending raises ``ApprovalPending``:
    the platform holds no other organisation's key, so it says so instead of pretending."""
    from ledger.tx import build_tx

    _identity, signer = homes.managed_identity(network)
    raw = build_tx(signer=signer, chain_id=network.chain_id, chaincode=chaincode,
                   function=function, args=args)
    try:
        result = gateway.broadcast_committed(network=network, raw=raw, timeout=_timeout())
    except AppError as exc:
        if already_done and exc.code == "tx_rejected" \
                and already_done in str(exc.details.get("log", "")):
            return {}
        raise
    data = result.get("data")
    if isinstance(data, dict) and data.get("status") == "pending":
        approvals = data.get("approvals")
        count = len(approvals) if isinstance(approvals, list) else approvals
        raise ApprovalPending(
            "approval_pending",
            f"{chaincode}.{function} is waiting for approvals from other organisations "
            f"({count} of {data.get('required')}).",
            params={"approvals": count, "required": data.get("required")},
        )
    return result


def register_org(network: Network, tenant: Any) -> None:
    """Make sure a consortium member's organisation (with its managed identity as admin)
    exists on chain. Idempotent: an organisation that already exists counts as done."""
    from ledger.tx import membership_proof

    membership = NetworkMembership.objects.filter(network=network, tenant=tenant).first()
    if membership is None or membership.org_registered_at is not None:
        return
    identity, signer = homes.managed_identity(network, tenant)
    try:
        governance_tx(network, "_identity", "add_org", {
            "id": identity.organisation_id, "name": tenant.name,
            "admin_public_key": identity.public_key,
            # the member's key itself agrees to be its organisation's admin
            "admin_proof": membership_proof(signer, network.chain_id, identity.organisation_id),
        }, already_done="already exists")
    except ApprovalPending as exc:
        raise StepFailed(
            "org_approval_pending",
            "The network's policy needs approvals from more organisations before this one "
            "joins; admins of the other organisations must send the same _identity.add_org "
            f"call ({exc.message})", params=exc.params,
        ) from None
    NetworkMembership.objects.filter(pk=membership.pk).update(org_registered_at=timezone.now())


def _org_tx(network: Network, tenant: Any, function: str, args: Any,
            *, already_done: str) -> None:
    """A call of ``tenant``'s organisation admin (its managed identity) about its own
    members: a consortium member manages its people with its own admin key."""
    from ledger.tx import build_tx

    _identity, signer = homes.managed_identity(network, tenant)
    raw = build_tx(signer=signer, chain_id=network.chain_id, chaincode="_identity",
                   function=function, args=args)
    try:
        gateway.broadcast_committed(network=network, raw=raw, timeout=_timeout())
    except AppError as exc:
        if exc.code == "tx_rejected" and already_done in str(exc.details.get("log", "")):
            return
        raise


def add_member_key(network: Network, tenant: Any, *, member_id: str, signer: Any) -> None:
    """Register a person's (or token's) own key under ``tenant``'s organisation, with no
    roles: it transacts, it does not govern. ``signer`` proves it holds the key."""
    from ledger.tx import membership_proof

    org = homes.managed_identity(network, tenant)[0].organisation_id
    _org_tx(network, tenant, "add_member", {
        "org": org, "member": member_id, "public_key": signer.public_key_hex, "roles": [],
        "proof": membership_proof(signer, network.chain_id, org),
    }, already_done="already registered")


def remove_member_key(network: Network, tenant: Any, *, public_key: str) -> None:
    _org_tx(network, tenant, "remove_member", {"public_key": public_key},
            already_done="no member with that public key")


def install_chaincode(network: Network, *, name: str, version: str, source: str) -> dict:
    """Propose (and with a one-organisation policy, activate) a chaincode version."""
    # A resumed install finds the version active: an earlier run got there.
    result = governance_tx(network, "_lifecycle", "install",
                           {"name": name, "version": version, "source": source},
                           already_done=f"{name} {version} is already active")
    data = result.get("data")
    data = data if isinstance(data, dict) else {}
    if result and data.get("status", "active") == "active":
        # The chain holds the change, not our database: published once it is committed
        # there. A resumed install that finds the version active gets an empty answer and
        # publishes nothing; the key covers a retry that got an answer twice.
        events.publish(tenant=network.tenant_id, type=events.CHAINCODE_INSTALLED, data={
            "network": {"id": str(network.pk), "name": network.name,
                        "chain_id": network.chain_id},
            "chaincode": {"name": name, "version": version,
                          "code_hash": data.get("code_hash", "")},
            "height": result.get("height")},
            dedupe_key=f"chaincode.installed:{network.pk}:{name}:{version}")
    return data


def chain_validators(network: Network, *, exclude: Node | None = None) -> set[str] | None:
    """The validator set (base64 public keys) as the first running node that answers sees
    it; None when none answers."""
    nodes = network.nodes.filter(status=NodeStatus.RUNNING).order_by("index")
    if exclude is not None:
        nodes = nodes.exclude(pk=exclude.pk)
    for peer in nodes:
        try:
            return rpc.validator_keys(peer.rpc_url)
        except rpc.RpcError:
            continue
    return None


def wait_power(node: Node, *, positive: bool, run: Run | None = None) -> None:
    """Wait until ``node`` signs with voting power (or, ``positive=False``, has none)."""
    timeout = _timeout() * 2
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            power, catching_up = rpc.voting_power(node.rpc_url)
            if (power > 0 and not catching_up) if positive else power == 0:
                return
            last = f"voting power {power}, catching up {catching_up}"
        except rpc.RpcError as exc:
            last = str(exc)
        if run is not None:
            run.beat()
        time.sleep(0.5)
    want = "join the validator set" if positive else "leave the validator set"
    raise StepFailed("validator_update_timeout",
                     f"{node.moniker} did not {want} within {timeout:.0f}s ({last})")


def wait_left_set(network: Network, node: Node, *, run: Run | None = None) -> None:
    """Wait until the other validators no longer list ``node`` (its own RPC is no help
    when it is down, which is often why it is being removed)."""
    timeout = _timeout() * 2
    deadline = time.monotonic() + timeout
    keys: set[str] | None = None
    while time.monotonic() < deadline:
        keys = chain_validators(network, exclude=node)
        if keys is not None and node.validator_pub_key not in keys:
            return
        if run is not None:
            run.beat()
        time.sleep(0.5)
    seen = "no other node answered" if keys is None else f"{len(keys)} validators listed"
    raise StepFailed("validator_update_timeout",
                     f"{node.moniker} did not leave the validator set within {timeout:.0f}s "
                     f"({seen})")


def sync_validator_count(network_id: str, fallback_delta: int) -> None:
    """``validator_count`` follows the chain's validator set (so a failed add that still
    got in, or a removed node that never got in, cannot skew it); ``fallback_delta`` only
    when no node answers. The chain is asked first and the row locked only to write: no
    row lock is ever held across network calls."""
    keys = chain_validators(Network.objects.get(pk=network_id))
    with transaction.atomic():
        network = Network.objects.select_for_update().get(pk=network_id)
        network.validator_count = len(keys) if keys else network.validator_count + fallback_delta
        network.save(update_fields=["validator_count", "updated_at"])


def validator_key_hex(node: Node) -> str:
    return homes.validator_key_hex(node)
