"""Pieces shared by the deploy workflows: the network failure policy, stopping what a
failed network left running, and polling nodes' RPC."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from baas.runner import Run
from deploy import states
from deploy.choices import NodeHealth, NodeStatus
from deploy.drivers import Driver, DriverError, driver_for
from deploy.models import Network, Node

logger = logging.getLogger(__name__)


def step(run: Run, percent: int, code: str, message: str, **params: Any) -> None:
    run.step(percent, code, message, **params)


def network_policy(
    network_id: str, *, expected: frozenset[str], desired: str
) -> Callable[[str, str], str | None]:
    """The failure policy of work on a whole network: fail the network (and stop what it
    runs) only while it is still in a state this work put it in and the user still wants
    what the work was for; otherwise the failure belongs to a request the user replaced,
    and the operation ends ``superseded`` with the network left alone."""

    def on_failure(code: str, message: str) -> str | None:
        if states.network_fail(network_id=network_id, code=code, message=message,
                               expected=expected, desired=desired):
            stop_everything(network_id)
            return code
        return "superseded"

    return on_failure


def stop_everything(network_id: str) -> list[str]:
    """After a failure, stop what was started so nothing runs unsupervised.

    A node the driver stopped becomes ``failed``. A node the driver could not stop keeps
    its status and says why in its detail, and the error is logged: the reconciler keeps
    trying to stop nodes of failed networks (``deploy.reconcile``), so a node that did not
    stop is never left running unseen. Returns the nodes that could not be stopped.
    """
    network = Network.objects.get(pk=network_id)
    not_stopped: list[str] = []
    try:
        driver = driver_for(network)
    except DriverError as exc:
        logger.error("network %s: cannot reach its driver to stop its nodes: %s",
                     network_id, exc)
        return [str(n.pk) for n in network.nodes.exclude(status=NodeStatus.DELETED)]
    for node in network.nodes.exclude(status__in=[NodeStatus.DELETED, NodeStatus.FAILED]):
        try:
            driver.stop_node(network_id=str(network.pk), node_id=str(node.pk))
        except DriverError as exc:
            logger.error("network %s: node %s did not stop: %s", network_id, node.moniker, exc)
            states.node_transition(node_id=node.pk, to=node.status,
                                   detail=f"stop failed: {exc.message}")
            not_stopped.append(str(node.pk))
            continue
        states.node_transition(node_id=node.pk, to=NodeStatus.FAILED, health=NodeHealth.UNKNOWN)
    return not_stopped


def last_words(driver: Driver | None, node: Node) -> str:
    """The node's last log line, which usually says why it died (a bad genesis, an image
    older than the control plane, a port in use)."""
    if driver is None:
        return ""
    try:
        text = driver.logs(network_id=str(node.network_id), node_id=str(node.pk), tail=5)
    except DriverError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f" (last log line: {lines[-1][:200]})" if lines else ""
