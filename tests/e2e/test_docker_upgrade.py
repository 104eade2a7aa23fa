"""The upgrade journey on the DOCKER driver against a real engine: a network made on the
image of version A; the control plane moved to B (a ledger/ copy with one extra file) and
an image of B (A's image plus that file, labelled B, tagged ``<repo>:ledger-<B>``); a
validator added runs A's image; the upgrade recreates both containers from B's image over
their volumes; a transaction commits and both nodes have one app hash."""

from __future__ import annotations

import io
import shutil
import tarfile

import pytest
from rest_framework.test import APIClient

from deploy import rpc
from deploy.drivers import get_driver
from deploy.drivers.docker import container_version, node_name
from deploy.drivers.runtimes import current_version
from deploy.models import Network
from deploy.tests.factories import MembershipFactory
from tests.e2e.test_docker_network import docker_ready  # noqa: F401 -- the fixture
from tests.e2e.test_local_network import wait_operation

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.cometbft]

NOTE = b"version B: one harmless extra file\n"


def _image_of_b(driver, a: str, b: str) -> str:
    """A's image with the extra file in its ledger/ and B's label: the image the build
    script would make from B's ledger/ (without rebuilding wheels and base)."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = (f"FROM {driver.ensure_runtime(a).ref}\n"
                      "COPY UPGRADE_NOTE.txt /opt/baas/ledger/UPGRADE_NOTE.txt\n"
                      f"LABEL baas.ledger-hash={b}\n").encode()
        for name, data in (("Dockerfile", dockerfile), ("UPGRADE_NOTE.txt", NOTE)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = driver.version_tag(b)
    driver.client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return tag


def _runs(network: Network) -> dict[str, str]:
    """moniker -> the ledger version of the image each node's container runs."""
    driver = get_driver("docker")
    return {node.moniker: container_version(driver.client.containers.get(node_name(str(node.pk))))
            for node in network.nodes.exclude(status="deleted")}


def test_a_docker_network_keeps_its_image_until_it_is_upgraded(docker_ready,  # noqa: F811
                                                                celery_worker, e2e_env,
                                                                settings, tmp_path):
    owner = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=owner.user)
    a = current_version()
    res = client.post("/api/v1/networks/", {"name": "pinned-docker", "validators": 1,
                                            "driver": "docker"}, format="json")
    network_id = res.json()["network"]["id"]
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    network = Network.objects.get(pk=network_id)
    driver = get_driver("docker")
    assert network.ledger_version == a and network.runtime_ref.startswith("sha256:")
    assert _runs(network) == {"pinned-docker-0": a}

    from ledger.source_hash import ROOT

    copy = tmp_path / "b" / "ledger"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    (copy / "UPGRADE_NOTE.txt").write_bytes(NOTE)
    settings.BAAS_LEDGER_SOURCE = str(copy)
    b = current_version()
    assert b != a
    tag_b = _image_of_b(driver, a, b)
    try:
        celery_worker({"BAAS_LEDGER_SOURCE": str(copy)})
        res = client.post(f"/api/v1/networks/{network_id}/validators/")
        assert res.status_code == 202, res.content
        op = wait_operation(client, res.json()["operation"]["id"])
        assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
        network.refresh_from_db()
        assert _runs(network) == {"pinned-docker-0": a, "pinned-docker-1": a}

        res = client.post(f"/api/v1/networks/{network_id}/upgrade/", {}, format="json")
        assert res.status_code == 202, res.content
        op = wait_operation(client, res.json()["operation"]["id"])
        assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
        network.refresh_from_db()
        assert (network.status, network.ledger_version) == ("running", b)
        assert network.runtime_ref == driver.client.images.get(tag_b).id
        assert _runs(network) == {"pinned-docker-0": b, "pinned-docker-1": b}

        tx = client.post(f"/api/v1/networks/{network_id}/gateway/tx/",
                         {"chaincode": "kv", "function": "put", "args": ["on", "b"]},
                         format="json")
        assert tx.status_code == 200 and tx.json()["code"] == 0, tx.content
        nodes = list(network.nodes.exclude(status="deleted"))
        common = min(rpc.status(n.rpc_url).height for n in nodes)
        hashes = {n.moniker: rpc.app_hash(n.rpc_url, common) for n in nodes}
        assert len(set(hashes.values())) == 1, hashes
    finally:
        driver.delete_network(network_id=network_id)
        driver.client.images.remove(tag_b, force=True)
