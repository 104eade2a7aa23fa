"""Taking a revoked person's or token's key off the chain."""

from __future__ import annotations

from baas.runner import Run
from deploy import chain
from deploy.choices import NETWORK_LIVE
from deploy.models import SigningKey


def revoke(run: Run, key_id: str) -> None:
    key = SigningKey.objects.select_related("network", "tenant").filter(pk=key_id).first()
    if key is None:
        run.succeed("already_removed", "already removed")
        return
    if key.network.status not in NETWORK_LIVE:
        # The private key is already wiped: nobody can sign with it. The chain forgets it
        # with its organisation, or when an admin removes it once the network runs.
        run.succeed("key_destroyed", f"key {key.member_id} destroyed; the network is "
                    f"{key.network.status}", member=key.member_id)
        return
    chain.remove_member_key(key.network, key.tenant, public_key=key.public_key)
    run.succeed("key_removed_from_chain", f"key {key.member_id} is off the chain",
                member=key.member_id)
