"""Grow and shrink a running network through the ledger's validator updates (no chain
restart): 1 validator -> add one -> 2 validators both signing -> remove it -> 1."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from deploy import rpc
from deploy.drivers import get_driver
from deploy.models import Network, Node
from deploy.tests.factories import MembershipFactory
from tests.e2e.test_local_network import wait_operation

pytestmark = [pytest.mark.slow, pytest.mark.cometbft]


def test_add_and_remove_a_validator_on_a_running_chain(celery_worker, e2e_env):
    owner = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=owner.user)
    res = client.post("/api/v1/networks/", {"name": "elastic", "validators": 1}, format="json")
    network_id = res.json()["network"]["id"]
    assert wait_operation(client, res.json()["operation"]["id"])["state"] == "succeeded"
    first = Node.objects.get(network_id=network_id)
    height_before = rpc.status(first.rpc_url).height

    res = client.post(f"/api/v1/networks/{network_id}/validators/")
    assert res.status_code == 202, res.content
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    network = Network.objects.get(pk=network_id)
    assert network.validator_count == 2
    added = network.nodes.exclude(pk=first.pk).get()
    assert added.status == "running"
    power, catching_up = rpc.voting_power(added.rpc_url)
    assert power > 0 and not catching_up
    # the chain never restarted: it kept its height and keeps committing
    assert rpc.status(first.rpc_url).height > height_before
    tx = client.post(f"/api/v1/networks/{network_id}/gateway/tx/",
                     {"chaincode": "kv", "function": "put", "args": ["two", "signers"]},
                     format="json")
    assert tx.status_code == 200 and tx.json()["code"] == 0  # needs both validators now

    # Restarting one of two validators halts the chain until it is back, then it resumes.
    res = client.post(f"/api/v1/networks/{network_id}/nodes/{first.pk}/restart/")
    assert res.status_code == 202
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    first.refresh_from_db()
    assert first.restart_count == 1 and first.status == "running"

    res = client.delete(f"/api/v1/networks/{network_id}/nodes/{added.pk}/")
    assert res.status_code == 202, res.content
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    network.refresh_from_db()
    added.refresh_from_db()
    assert network.validator_count == 1 and added.status == "deleted"
    assert not get_driver("local").inspect_node(network_id=network_id,
                                                node_id=str(added.pk)).exists
    res = client.delete(f"/api/v1/networks/{network_id}/nodes/{first.pk}/")
    assert res.status_code == 409 and res.json()["error"]["code"] == "last_validator"
