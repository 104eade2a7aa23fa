"""Factories for deploy tests (users, tenants and memberships kept minimal on purpose)."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from deploy.choices import NetworkStatus, NodeStatus
from deploy.models import Cluster, ConsortiumInvitation, Network, Node
from tenants.models import Membership, Tenant, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.django.Password("correct horse battery")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = "owner"


class NetworkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Network

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"net-{n}")
    chain_id = factory.Sequence(lambda n: f"chain-{n}")
    validator_count = 1
    driver = "local"
    status = NetworkStatus.RUNNING


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node

    network = factory.SubFactory(NetworkFactory)
    tenant = factory.SelfAttribute("network.tenant")
    index = factory.Sequence(lambda n: n)
    moniker = factory.LazyAttribute(lambda o: f"{o.network.name}-{o.index}")
    host = "127.0.0.1"
    status = NodeStatus.RUNNING


class ConsortiumInvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsortiumInvitation

    network = factory.SubFactory(NetworkFactory)
    invited_tenant = factory.SubFactory(TenantFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class ClusterFactory(factory.django.DjangoModelFactory):
    """A registered cluster row; its ``sealed_kubeconfig`` is a placeholder unless a test
    seals one (``deploy.crypto.seal``)."""

    class Meta:
        model = Cluster

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"cluster-{n}")
    server = "https://k8s.example.test:6443"
    sealed_kubeconfig = b"not-a-sealed-kubeconfig"
