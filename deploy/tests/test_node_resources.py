"""Each validator's CPUs and memory come from the plan of the tenant that runs it, within
the operator's ceilings; the drivers turn them into pod requests and limits (Kubernetes)
or container limits (Docker)."""

from __future__ import annotations

import pytest

from deploy.homes import node_resources
from tenants.choices import PLAN_NODE_RESOURCES, Plan
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("plan", list(Plan))
def test_a_node_gets_its_tenants_plan(plan):
    cpu, memory_mb = PLAN_NODE_RESOURCES[plan]
    assert node_resources(TenantFactory(plan=plan)) == {"cpu_limit": cpu, "memory_mb": memory_mb}


def test_larger_plans_get_larger_nodes():
    free, startup, enterprise = (PLAN_NODE_RESOURCES[p] for p in
                                 (Plan.FREE, Plan.STARTUP, Plan.ENTERPRISE))
    assert free <= startup <= enterprise and free != enterprise


def test_the_operators_ceilings_cap_every_plan(settings):
    settings.DEPLOY_NODE_CPU_LIMIT = 0.5
    settings.DEPLOY_NODE_MEMORY_MB = 256
    assert node_resources(TenantFactory(plan=Plan.ENTERPRISE)) == {
        "cpu_limit": 0.5, "memory_mb": 256}


def test_the_running_tenant_decides_for_a_consortium_members_node(fake_driver):
    """A member's validator on the owner's network is sized by the member's plan."""
    from deploy.homes import node_spec
    from deploy.tests.factories import NetworkFactory, NodeFactory

    network = NetworkFactory(tenant=TenantFactory(plan=Plan.FREE))
    member = TenantFactory(plan=Plan.ENTERPRISE)
    node = NodeFactory(network=network, tenant=member, index=1)
    spec = node_spec(node)
    assert (spec.cpu_limit, spec.memory_mb) == PLAN_NODE_RESOURCES[Plan.ENTERPRISE]
