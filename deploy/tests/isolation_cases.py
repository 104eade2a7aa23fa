"""Tenant-isolation cases for the networks API (see ``baas.testing``).

Node, log and gateway URLs hang under a network; ``deploy/tests/test_api.py``
(``test_another_tenant_sees_404_everywhere``) covers every one of them for another tenant.
"""

from __future__ import annotations

from baas.testing import IsolationCase
from deploy.tests.factories import (
    ClusterFactory,
    ConsortiumInvitationFactory,
    NetworkFactory,
)


def _network(tenant, owner):
    return NetworkFactory(tenant=tenant)


def _cluster(tenant, owner):
    return ClusterFactory(tenant=tenant)


def _cluster_url(suffix: str = ""):
    return lambda o: f"/api/v1/clusters/{o.pk}/{suffix}"


def _invitation_to(tenant, owner):
    """An invitation addressed to ``tenant`` from some other organisation's network."""
    return ConsortiumInvitationFactory(invited_tenant=tenant)


def _invitation_url(suffix: str = ""):
    return lambda o: f"/api/v1/consortium-invitations/{o.pk}/{suffix}"


def _url(suffix: str = ""):
    return lambda o: f"/api/v1/networks/{o.pk}/{suffix}"


CASES = [
    IsolationCase("networks", _network, "/api/v1/networks/", _url(), ("get", "delete")),
    IsolationCase("network-start", _network, "/api/v1/networks/", _url("start/"), ("post",)),
    IsolationCase("network-stop", _network, "/api/v1/networks/", _url("stop/"), ("post",)),
    IsolationCase("network-nodes", _network, "/api/v1/networks/", _url("nodes/"), ("get",)),
    IsolationCase("network-validators", _network, "/api/v1/networks/", _url("validators/"),
                  ("post",)),
    IsolationCase("network-invitations", _network, "/api/v1/networks/", _url("invitations/"),
                  ("get", "post")),
    IsolationCase("network-members", _network, "/api/v1/networks/", _url("members/"),
                  ("get",)),
    IsolationCase("clusters", _cluster, "/api/v1/clusters/", _cluster_url(), ("get", "delete")),
    IsolationCase("cluster-check", _cluster, "/api/v1/clusters/", _cluster_url("check/"),
                  ("post",)),
    IsolationCase("consortium-invitations", _invitation_to, "/api/v1/consortium-invitations/",
                  _invitation_url(), ("get",)),
    IsolationCase("consortium-invitation-accept", _invitation_to,
                  "/api/v1/consortium-invitations/", _invitation_url("accept/"), ("post",)),
    IsolationCase("consortium-invitation-decline", _invitation_to,
                  "/api/v1/consortium-invitations/", _invitation_url("decline/"), ("post",)),
]
