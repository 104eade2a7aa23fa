"""The Kubernetes rights of the control plane's two identities, as ClusterRole rules.

Two identities, because only one process needs to write (deploy/chart renders both roles;
tests/chart compares them with these lists, deploy/tests/test_k8s_rbac.py proves them on a
real API server):

- the worker (``RBAC_RULES``, kept in ``k8s_manifests``): provisions, reconciles, repairs
  and deletes networks, so it creates and deletes namespaces and the objects in them. The
  chart's ValidatingAdmissionPolicy confines those writes to namespaces labelled as this
  install's networks (docs/kubernetes.md, "Rights");
- the web pods (``RBAC_READ_RULES``): they call the driver only for a node's log tail
  (``deploy.selectors.node_logs`` -> ``KubernetesDriver.logs``), which lists the node's
  StatefulSet by label in its namespace, reads the pod ``node<i>-0`` by name and reads that
  pod's log. Nothing else: no Secrets, no writes.

This module must not import Django.
"""

from __future__ import annotations

from typing import Any

from deploy.drivers.k8s_manifests import RBAC_RULES

RBAC_READ_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]

__all__ = ["RBAC_READ_RULES", "RBAC_RULES"]
