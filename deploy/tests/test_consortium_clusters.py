"""A consortium member's validator runs only on the platform's clusters (review finding 5):
on a cluster the network's owner registered, the member's keys would sit in a Secret the
owner can read; the add is refused before any key is made or sent."""

from __future__ import annotations

import pytest

from baas.models import Operation
from baas.runner import Run, StepFailed
from deploy.choices import OperationKind
from deploy.models import Cluster, Network, NetworkMembership, NodeKey
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory
from deploy.workflows import validators

pytestmark = pytest.mark.django_db


@pytest.fixture
def consortium():
    owner, member = MembershipFactory(role="owner"), MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant, driver="kubernetes")
    NodeFactory(network=network)
    NetworkMembership.objects.create(network=network, tenant=member.tenant)
    return network, owner.tenant, member.tenant


def _on(network: Network, tenant) -> None:
    cluster = Cluster.objects.create(tenant=tenant, name="c", server="https://k.example",
                                     sealed_kubeconfig=b"sealed")
    Network.objects.filter(pk=network.pk).update(cluster=cluster)
    network.refresh_from_db()


def _add_as(network: Network, tenant) -> None:
    op = Operation.objects.create(tenant=tenant, kind=OperationKind.VALIDATOR_ADD,
                                  state="running", target_type="deploy.network",
                                  target_id=str(network.pk))
    validators.add(Run(op.pk), str(network.pk))


def test_a_members_validator_on_the_owners_cluster_is_refused_before_any_key(consortium,
                                                                             monkeypatch):
    network, owner, member = consortium
    _on(network, owner)
    touched: list[str] = []
    monkeypatch.setattr("deploy.workflows.validators.driver_for",
                        lambda n: touched.append("driver") or None)
    nodes_before = network.nodes.count()
    with pytest.raises(StepFailed) as err:
        _add_as(network, member)
    assert err.value.code == "member_validator_refused"
    assert touched == [] and network.nodes.count() == nodes_before
    assert not NodeKey.objects.filter(node__network=network, node__tenant=member).exists()


def test_platform_clusters_and_the_owner_itself_are_not_refused(consortium):
    network, owner, member = consortium
    validators.refuse_member_on_tenant_cluster(network, owner)  # the owner's own cluster
    _on(network, owner)
    validators.refuse_member_on_tenant_cluster(network, owner)
    _on(network, None)  # a platform cluster
    validators.refuse_member_on_tenant_cluster(network, member)
    Network.objects.filter(pk=network.pk).update(cluster=None)  # the platform's own
    network.refresh_from_db()
    validators.refuse_member_on_tenant_cluster(network, member)
