"""Render deploy/chart with the pinned Helm and hand back the manifests as dicts.

Used by the chart tests and meant for reuse (e.g. comparing the chart's ClusterRole with
``deploy.drivers.kubernetes.RBAC_RULES``)::

    from tests.chart.render import cluster_role_rules, normalised_rules, render
    assert normalised_rules(cluster_role_rules(render())) == normalised_rules(RBAC_RULES)

Helm comes from ``$HELM`` or the cache ``scripts/install-helm.sh`` fills (it prints the
path; ``.ci/run`` exports it as ``HELM``), never from a download here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "chart"
VALUES_ALL = Path(__file__).resolve().parent / "values-all.yaml"
HELM_VERSION = "v4.3.2"  # scripts/install-helm.sh
# The Kubernetes versions the chart supports (Chart.yaml kubeVersion and the docs); every
# rendered manifest is validated against each one's OpenAPI schema.
KUBE_VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34")


def helm_binary() -> str | None:
    """The Helm CLI to use, or None when this machine has none yet."""
    candidates = [os.environ.get("HELM"),
                  str(Path.home() / ".cache" / "baas" / f"helm-{HELM_VERSION}" / "helm"),
                  shutil.which("helm")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class HelmError(RuntimeError):
    """Helm exited non-zero; the message is its stderr."""


def helm(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    binary = helm_binary()
    if binary is None:
        raise HelmError("no helm: run scripts/install-helm.sh or set HELM")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise HelmError(done.stderr.strip() or done.stdout.strip())
    return done


def render_text(*, values: dict[str, Any] | None = None, values_files: Iterable[Path] = (),
                release: str = "baas", namespace: str = "baas",
                kube_version: str | None = None) -> str:
    """`helm template` output (hooks included, as `helm install` would create them)."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    if values:
        # --set-json keeps types exact (no string/number guessing of --set).
        for key, value in values.items():
            args += ["--set-json", f"{key}={json.dumps(value)}"]
    if kube_version:
        args += ["--kube-version", kube_version]
    return helm(*args).stdout


def render(**kwargs: Any) -> list[dict[str, Any]]:
    """The rendered manifests as dicts, in Helm's order; see ``render_text`` for arguments."""
    return [doc for doc in yaml.safe_load_all(render_text(**kwargs)) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects
            if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def cluster_role_rules(objects: list[dict[str, Any]], suffix: str = "-driver") -> list[dict]:
    """The rules of the chart's ClusterRole named ``<fullname><suffix>``: ``-driver`` (the
    worker's rights, RBAC_RULES) or ``-web-read`` (the web pods', RBAC_READ_RULES)."""
    (role,) = [r for r in find(objects, "ClusterRole") if r["metadata"]["name"].endswith(suffix)]
    return role["rules"]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[dict, dict]]:
    """(object, pod spec) of every workload that runs pods."""
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
            yield obj, spec["template"]["spec"]
        elif obj["kind"] == "CronJob":
            yield obj, spec["jobTemplate"]["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield obj, spec


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]


def normalised_rules(rules: list[dict[str, Any]]) -> dict[tuple[str, str], frozenset[str]]:
    """``(api group, resource) -> verbs``: two rule lists grant the same rights exactly when
    these are equal, however the rules are grouped or ordered."""
    rights: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert not {"resourceNames", "nonResourceURLs"} & set(rule), rule  # not comparable here
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rights.setdefault((group, resource), set()).update(rule["verbs"])
    return {key: frozenset(verbs) for key, verbs in rights.items()}
