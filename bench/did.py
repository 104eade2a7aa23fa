"""DID benchmark: resolutions per second (did:key, did:baas cached and uncached) and did:baas
creates per second on a 4-validator local network.

    .venv/bin/python bench/did.py [--dids 300] [--resolutions 500] [--concurrency 32]

On this machine, in this order:

1. ``key_lib_per_s``: ``identity.did.resolver.resolve`` of one did:key (the library alone);
   ``key_http_per_s``: ``GET /1.0/identifiers/<did:key>`` through Django in-process (test
   client: URL routing, middleware, throttle, negotiation; no network socket);
2. one 4-validator network (ledger.network, CometBFT on loopback, ``timeout_commit`` 500 ms),
   its namespace set; ``creates_per_s``: ``--dids`` pre-signed ``_did.create`` transactions
   (each DID its own key) sent with ``broadcast_tx_sync`` round-robin over the nodes by the
   load generator of ``bench/ledger_throughput.py``: committed creates / time from the first
   broadcast to the last commit seen;
3. Django on a throw-away SQLite (migrated), the network registered as a public DID
   registry; ``ledger_resolve_per_s`` (uncached: ``BAAS_DID_CACHE_SECONDS=0``, each request
   one ``_did.resolve`` query on a node over loopback HTTP, cycling over the created DIDs)
   and ``ledger_resolve_cached_per_s`` (the same requests answered from the local-memory
   cache), each through ``GET /1.0/identifiers/`` in-process, one request at a time;
   ``proof_resolve_per_s``: uncached with ``proof=true`` (the ``/state`` proof, the block
   header and the check) for a tenth of the requests.

The last line is one summary: ``key_lib_per_s=... key_http_per_s=... creates_per_s=...
ledger_resolve_per_s=... ledger_resolve_cached_per_s=... proof_resolve_per_s=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ledger_throughput import drive, machine  # noqa: E402
from bench.provision import setup_environment  # noqa: E402

CHAIN_ID = "did-bench"
NAMESPACE = "bench"


def rate(count: int, fn: Any) -> float:
    began = time.perf_counter()
    for i in range(count):
        fn(i)
    elapsed = time.perf_counter() - began
    return count / elapsed if elapsed > 0 else 0.0


def did_key_rates(count: int, client: Any) -> tuple[float, float]:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from identity.did.did_key import did_key_create
    from identity.did.resolver import resolve

    did = did_key_create(ed25519.Ed25519PrivateKey.generate().public_key())
    lib = rate(count, lambda i: resolve(did))

    def http(i: int) -> None:
        assert client.get(f"/1.0/identifiers/{did}").status_code == 200

    return lib, rate(count, http)


def django_client() -> Any:
    import django

    os.environ["BAAS_DID_RESOLVER_THROTTLE_RATE"] = "100000000/minute"
    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    return Client()


def register(url: str) -> None:
    from deploy.models import Network, Node
    from identity.models import DidRegistry
    from tenants.models import Tenant

    tenant = Tenant.objects.create(name="Bench", slug="bench")
    network = Network.objects.create(tenant=tenant, name="did-bench", chain_id=CHAIN_ID,
                                     validator_count=4, driver="local", status="running")
    Node.objects.create(network=network, tenant=tenant, index=0, moniker="node0",
                        host="127.0.0.1", status="running", health="healthy", height=1,
                        rpc_url=url)
    DidRegistry.objects.create(network=network, namespace=NAMESPACE, public=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dids", type=int, default=300, help="DIDs created (and resolved)")
    ap.add_argument("--resolutions", type=int, default=500, help="resolutions per measure")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent tx senders")
    args = ap.parse_args()

    from cryptography.hazmat.primitives.asymmetric import ed25519

    from identity.did.did_baas import create_op, did_for
    from identity.did.did_key import public_key_raw
    from ledger.cli import build_app_state
    from ledger.client import LedgerClient
    from ledger.network import create_operator_key, generate_network, local_nodes
    from ledger.node import start_background, stop_background, wait_ready
    from ledger.tx import Signer, build_tx

    print(machine())
    print(f"conditions: {args.dids} DIDs created by {args.concurrency} concurrent senders "
          "(broadcast_tx_sync round-robin, 4 validators, timeout_commit=500ms, loopback); "
          f"{args.resolutions} resolutions per measure, one at a time, in-process Django "
          "(SQLite, local-memory cache)", flush=True)
    with tempfile.TemporaryDirectory(prefix="did-bench-") as tmp:
        out = Path(tmp)
        setup_environment(out)
        client = django_client()
        key_lib, key_http = did_key_rates(args.resolutions, client)
        print(f"did:key: library {key_lib:.0f}/s, HTTP in-process {key_http:.0f}/s",
              flush=True)

        operator_key, public_hex = create_operator_key(out / "net")
        nodes = local_nodes(4)
        homes = generate_network(chain_id=CHAIN_ID, nodes=nodes, out_dir=out / "net",
                                 app_state=build_app_state(public_hex))
        try:
            for home in homes:
                start_background(home)
            urls = [f"http://127.0.0.1:{n.rpc_port}" for n in nodes]
            for url in urls:
                wait_ready(url, timeout=90)
            operator = Signer.from_private_bytes(operator_key)
            with LedgerClient(urls[0], signer=operator, chain_id=CHAIN_ID) as ledger:
                ledger.submit("_did", "set_namespace", [NAMESPACE], wait="commit")
            keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(args.dids)]
            txs = [build_tx(signer=operator, chain_id=CHAIN_ID, chaincode="_did",
                            function="create", args=[create_op(k, CHAIN_ID)]) for k in keys]
            committed, rejected, _lat, elapsed, blocks = asyncio.run(
                drive(urls, txs, args.concurrency))
            creates = committed / elapsed if elapsed > 0 else 0.0
            print(f"creates: sent={len(txs)} committed={committed} rejected={rejected} "
                  f"blocks_with_txs={blocks} creates_per_s={creates:.1f}", flush=True)

            from django.conf import settings
            from django.core.cache import cache

            register(urls[0])
            dids = [did_for(NAMESPACE, public_key_raw(k.public_key())) for k in keys]
            # uncached: every request reads the chain
            settings.BAAS_DID_CACHE_SECONDS = 0

            def uncached(i: int) -> None:
                response = client.get(f"/1.0/identifiers/{dids[i % len(dids)]}")
                assert response.status_code == 200, response.content

            uncached_rate = rate(args.resolutions, uncached)

            def proven(i: int) -> None:
                response = client.get(f"/1.0/identifiers/{dids[i % len(dids)]}?proof=true")
                assert response.status_code == 200, response.content

            proof_rate = rate(max(1, args.resolutions // 10), proven)
            settings.BAAS_DID_CACHE_SECONDS = 300
            cache.clear()
            for did in dids:  # warm
                client.get(f"/1.0/identifiers/{did}")
            busy_cached_rate = rate(args.resolutions, uncached)
            print(f"did:baas through /1.0/identifiers/: uncached {uncached_rate:.0f}/s, "
                  f"cached {busy_cached_rate:.0f}/s while the 4 validators run on the same "
                  f"2 CPUs, with proof {proof_rate:.1f}/s", flush=True)
        finally:
            for home in homes:
                stop_background(home)
        # A cached answer needs no node: measured again with the validators stopped, as on
        # a control plane that does not share its CPUs with the network it resolves from.
        cached_rate = rate(args.resolutions, uncached)
        print(f"did:baas cached, the validators stopped: {cached_rate:.0f}/s", flush=True)
    print(f"key_lib_per_s={key_lib:.0f} key_http_per_s={key_http:.0f} "
          f"creates_per_s={creates:.1f} ledger_resolve_per_s={uncached_rate:.0f} "
          f"ledger_resolve_cached_per_s={cached_rate:.0f} proof_resolve_per_s={proof_rate:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
