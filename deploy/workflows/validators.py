"""Adding and removing validators of a running chain, through the ledger's validator
updates (``_identity.add_node`` / ``remove_node``), without restarting it."""

from __future__ import annotations

import logging
from typing import Any

from baas.models import Operation
from baas.runner import Run, StepFailed, Superseded
from deploy import chain, homes, rpc, states
from deploy.choices import NetworkStatus, NodeHealth, NodeStatus
from deploy.drivers import DriverError, driver_for
from deploy.models import Network, Node, NodeKey

logger = logging.getLogger(__name__)


def runner_of(network: Network, operation_id: int | None):
    """The organisation that asked runs the validator: the owner, or a consortium member."""
    op = Operation.objects.filter(pk=operation_id).select_related("tenant").first()
    return op.tenant if op is not None and op.tenant_id else network.tenant


def add(run: Run, network_id: str) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status != NetworkStatus.RUNNING:
        raise Superseded(reason=f"The network is {network.status}.")
    runner = runner_of(network, run.operation_id)
    refuse_member_on_tenant_cluster(network, runner)
    driver = driver_for(network)
    driver.check()
    if runner.pk != network.tenant_id:
        chain.register_org(network, runner)
        run.step(10, "org_registered", f"organisation {runner.slug} is registered on chain",
                 org=runner.slug)
    peers = list(network.nodes.filter(status=NodeStatus.RUNNING).order_by("index"))
    # Resume the half-added node of an interrupted run rather than planning another.
    node = network.nodes.filter(status__in=[NodeStatus.PENDING, NodeStatus.STARTING],
                                tenant=runner).order_by("-index").first()
    if node is None:
        index = max(network.nodes.values_list("index", flat=True), default=-1) + 1
        address = driver.plan_node(network_id=network_id, index=index)
        node = Node.objects.create(
            network=network, tenant=runner, index=index,
            moniker=f"{network.name}-{index}", host=address.host,
            p2p_port=address.p2p_port, rpc_port=address.rpc_port,
            abci_port=address.abci_port,
            metrics_port=address.metrics_port or None,
        )
    run.step(15, "node_planned", f"planned {node.moniker}", node=node.moniker)
    if not homes.homes_stored([node]):
        homes.generate_and_store_extra(network, node, peers)
        node.refresh_from_db()
    run.step(30, "node_keys_generated", f"generated keys for {node.moniker} (stored encrypted)",
             node=node.moniker)
    state = driver.apply_node(homes.node_spec(node))
    node = states.node_transition(node_id=node.pk, to=NodeStatus.STARTING,
                                  rpc_url=state.rpc_url or "", detail=state.detail)
    run.step(50, "validator_add_requested", f"started {node.moniker}; asking the chain to add it",
             node=node.moniker)
    org = homes.managed_identity(network, runner)[0].organisation_id
    chain.governance_tx(network, "_identity", "add_node", {
        "org": org, "name": node.moniker,
        "public_key": chain.validator_key_hex(node), "power": 10,
    }, already_done="already registered")
    run.step(70, "validator_add_committed",
             "validator update committed; waiting for it to sign")
    chain.wait_power(node, positive=True, run=run)
    info = rpc.status(node.rpc_url)
    states.node_transition(node_id=node.pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY,
                           height=info.height)
    chain.sync_validator_count(network_id, +1)
    run.succeed("validator_added", f"{node.moniker} is a validator", node=node.moniker)


def refuse_member_on_tenant_cluster(network: Network, runner: Any) -> None:
    """A consortium member's validator runs only where the platform runs it: on a cluster
    the network's owner registered, the member's validator keys would sit in a Secret the
    owner (an admin of that cluster) can read, so the owner could sign as the member. On
    the platform's clusters (and the other drivers) members add validators as usual.
    Checked before any key is generated or sent."""
    if runner.pk == network.tenant_id or network.driver != "kubernetes" or not network.cluster_id:
        return
    cluster = network.cluster
    if cluster is not None and cluster.tenant_id is not None:
        raise StepFailed(
            "member_validator_refused",
            "this network runs on a cluster its owner registered; a member organisation's "
            "validator keys would be readable there by the owner, so members can add "
            "validators only to networks on the platform's clusters")


def give_up_pending(network_id: str) -> None:
    """After an add failed or was cancelled, stop the would-be validator so nothing runs
    unsupervised -- unless the chain already made it a validator (the add committed, then
    waiting for it timed out): stopping it then would cost the chain a validator, maybe
    its quorum. Such a node stays up under the reconciler and the count follows the chain."""
    network = Network.objects.get(pk=network_id)
    validators = chain.chain_validators(network)
    for node in network.nodes.filter(status__in=[NodeStatus.PENDING, NodeStatus.STARTING]):
        if validators is not None and node.validator_pub_key in validators:
            chain.sync_validator_count(network_id, 0)
            continue
        try:
            driver_for(network).stop_node(network_id=network_id, node_id=str(node.pk))
        except DriverError as exc:
            logger.error("network %s: would-be validator %s did not stop: %s",
                         network_id, node.moniker, exc)
            states.node_transition(node_id=node.pk, to=node.status,
                                   detail=f"stop failed: {exc.message}")
            continue
        states.node_transition(node_id=node.pk, to=NodeStatus.FAILED, health=NodeHealth.UNKNOWN)


def remove(run: Run, node_id: str) -> None:
    node = Node.objects.select_related("network").get(pk=node_id)
    if node.status == NodeStatus.DELETED:
        run.succeed("already_removed", "already removed")
        return
    take_out(run, node.network, node)
    run.succeed("validator_removed", f"{node.moniker} removed", node=node.moniker)


def take_out(run: Run, network: Network, node: Node) -> None:
    """Take ``node`` out of the validator set, then delete it and its keys. ``remove_node``
    is always sent, even for a node CometBFT does not list yet: ``_identity`` may already
    hold it (an add committed moments ago), and "no node with that public key" makes a
    repeat harmless. Each step is idempotent, so a re-run resumes."""
    if node.validator_pub_key:  # no key: its home was never made, the chain cannot know it
        chain.governance_tx(network, "_identity", "remove_node",
                            {"public_key": chain.validator_key_hex(node)},
                            already_done="no node with that public key")
        run.step(40, "validator_remove_committed",
                 f"validator update for {node.moniker} committed", node=node.moniker)
        chain.wait_left_set(network, node, run=run)
        run.step(70, "validator_left_set", f"{node.moniker} left the validator set",
                 node=node.moniker)
    driver_for(network).delete_node(network_id=str(network.pk), node_id=str(node.pk))
    NodeKey.objects.filter(node=node).delete()
    states.node_transition(node_id=node.pk, to=NodeStatus.DELETED, health=NodeHealth.UNKNOWN)
    chain.sync_validator_count(str(network.pk), -1)
