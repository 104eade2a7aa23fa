"""Installing a chaincode version on a running network, signed by the owner's governing
identity (``_lifecycle.install``)."""

from __future__ import annotations

from baas.models import Operation
from baas.runner import Run, Superseded
from deploy import chain
from deploy.choices import NETWORK_LIVE
from deploy.models import Network


def install(run: Run, network_id: str) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status not in NETWORK_LIVE:
        raise Superseded(
            reason=f"The network is {network.status}; it must run to install chaincode.")
    params = Operation.objects.get(pk=run.operation_id).params if run.operation_id else {}
    name, version = params["name"], params["version"]
    run.step(20, "chaincode_install_sent", f"sending {name} {version} to the chain",
             name=name, version=version)
    result = chain.install_chaincode(network, name=name, version=version,
                                     source=params["source"])
    status = result.get("status", "active")
    run.succeed("chaincode_installed", f"{name} {version} is {status}", name=name,
                version=version, status=status)
