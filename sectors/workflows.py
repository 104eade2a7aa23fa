"""Deploying a template onto a network: the steps of a ``template.deploy`` operation.

1. check what the chain runs under the template's name (an earlier run may have installed
   it already; a chaincode of that name that is not ours is refused);
2. install the version through ``_lifecycle``, signed by the owner's governing identity
   (``deploy.chain``): an upgrade keeps the chaincode's state;
3. at the first deploy, call the init function with the organisation roles;
4. record the version as active.

Every step can run twice: a resumed run finds the code active and skips the install, and
init refuses a second call with "already initialised", which counts as done. A failure
changes nothing on the platform's side: a first deploy becomes ``failed`` (deploy again to
retry), an upgrade leaves the active version in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.db import transaction

from baas.errors import AppError
from baas.runner import Run, StepFailed, Superseded
from deploy import chain, gateway
from deploy.choices import NETWORK_LIVE
from sectors.choices import DeploymentStatus
from sectors.models import Deployment, Template

ALREADY_INITIALISED = "already initialised"


def _code_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _on_chain(deployment: Deployment) -> dict[str, Any] | None:
    """``_lifecycle``'s record of the chaincode (``active``/``pending``), or None."""
    try:
        answer = gateway.query(network=deployment.network, body={
            "chaincode": "_lifecycle", "function": "inspect", "args": [deployment.name]})
    except AppError as exc:
        if "not installed" in exc.message or exc.code in ("not_found", "query_failed") and \
                "not installed" in str(exc.details):
            return None
        raise
    result = answer.get("result")
    return result if isinstance(result, dict) else None


def deploy(run: Run, deployment_id: str) -> None:
    deployment = Deployment.objects.select_related("network", "target", "active").get(
        pk=deployment_id)
    target = deployment.target
    if deployment.status != DeploymentStatus.DEPLOYING or target is None:
        raise Superseded(reason="The deployment is no longer waiting for this deploy.")
    network = deployment.network
    if network.status not in NETWORK_LIVE:
        raise StepFailed("network_not_running",
                         f"The network is {network.status}; it must run to deploy.")
    run.step(10, "template_checking", f"checking {deployment.name} on chain",
             name=deployment.name)
    wanted = _code_hash(target.source)
    record = _on_chain(deployment)
    active = (record or {}).get("active") or {}
    if active and active.get("code_hash") != wanted and not _ours(deployment, active):
        raise StepFailed(
            "chaincode_name_taken",
            f"The network already runs a chaincode called {deployment.name} that was not "
            "deployed from this template; deploy the template onto another network or "
            "rename the bundle.", params={"name": deployment.name})
    if active.get("code_hash") != wanted:
        run.step(30, "template_installing",
                 f"installing {deployment.name} {target.version}",
                 name=deployment.name, version=target.version)
        try:
            result = chain.install_chaincode(network, name=deployment.name,
                                             version=target.version, source=target.source)
        except chain.ApprovalPending as exc:
            raise StepFailed("chain_approval_pending", exc.message, params=exc.params) \
                from None
        if result.get("status") == "pending":
            raise StepFailed("chain_approval_pending",
                             "The network's own policy needs more organisations to approve "
                             "this chaincode.")
        run.beat()
        # A fresh install answers with the code it activated. "Already active" (an empty
        # answer) counts as done for a resumed run, but _lifecycle says the same of this
        # version with other code: then only what the chain runs now is proof.
        now = result.get("code_hash") or (
            (_on_chain(deployment) or {}).get("active") or {}).get("code_hash")
        if now != wanted:
            raise StepFailed(
                "chaincode_version_conflict",
                f"The network already runs {deployment.name} {target.version} with other "
                "code; deploy a newer version.", params={"version": target.version})
    run.check()
    init = (target.manifest.get("init") or {}).get("function")
    if deployment.active is None and init:
        run.step(70, "template_initialising",
                 f"calling {deployment.name}.{init}", name=deployment.name,
                 function=init)
        chain.governance_tx(network, deployment.name, init,
                            {**deployment.init_args, "roles": deployment.roles},
                            already_done=ALREADY_INITIALISED)
    run.check()  # a run that lost its claim (resumed elsewhere) stops before recording
    if not _activate(deployment.pk, target):
        raise Superseded(reason="The deployment moved on while this deploy ran.")
    run.succeed("template_deployed", f"{deployment.name} {target.version} is active",
                name=deployment.name, version=target.version)


def _ours(deployment: Deployment, active: dict[str, Any]) -> bool:
    """Is the chaincode active on chain a version of this template the deploying tenant
    may use (an earlier run, or a first deploy that failed after the install)?"""
    versions = Template.objects.visible_to(deployment.tenant).filter(name=deployment.name)
    for source in versions.values_list("source", flat=True):
        if _code_hash(source) == active.get("code_hash"):
            return True
    return False


def _activate(deployment_id: Any, target: Template) -> bool:
    """Record ``target`` as active, only if the deployment still waits for exactly this
    deploy (a late run must not overwrite a newer request or a recorded failure)."""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment_id)
        if locked.status != DeploymentStatus.DEPLOYING or locked.target_id != target.pk:
            return False
        locked.active = target
        locked.target = None
        locked.status = DeploymentStatus.ACTIVE
        locked.error_code = locked.error_message = ""
        locked.save()
    return True


def failure_policy(deployment_id: str) -> Callable[[str, str], str | None]:
    """A first deploy that fails is ``failed``; a failed upgrade leaves the version that
    was active in place. Either way the error is kept on the deployment."""

    def on_failure(code: str, message: str) -> str | None:
        with transaction.atomic():
            locked = Deployment.objects.select_for_update().filter(pk=deployment_id).first()
            if locked is None or locked.status != DeploymentStatus.DEPLOYING:
                return "superseded"
            locked.status = (DeploymentStatus.FAILED if locked.active is None
                             else DeploymentStatus.ACTIVE)
            if locked.active is not None:
                locked.target = None  # nothing waits any more; the error says what failed
            locked.error_code, locked.error_message = code, message[:2000]
            locked.save()
        return code

    return on_failure
