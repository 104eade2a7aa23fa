"""Sector templates: validation time, deploy time and each bundle's main operation in tx/s,
next to the ``kv`` chaincode in the same run, on a running 4-validator local network.

    .venv/bin/python bench/templates.py [--txs 1000] [--concurrency 32]

On this machine, in this order:

1. ``validate_s``: ``sectors.validation.validate`` of each platform bundle (schema, sandbox
   compile, declared functions, and the review: every sample run on an in-process chain);
2. one 4-validator network (ledger.network, CometBFT on loopback, genesis admitting keys
   that are not registered, like a network with public pages);
3. ``deploy_s`` through the platform, as a user sees it: on a 4-validator network made by
   the control plane (REST API, filesystem broker, a real Celery worker, local driver;
   SQLite in a throw-away dir, as ``bench/provision.py``), from the deploy request to the
   ``template.deploy`` operation's success (install, init, recorded active), polled every
   0.1 s; and ``chain_deploy_s``, the chain's part alone on the throughput network: from
   sending ``_lifecycle.install`` until the init call is committed;
4. throughput: ``kv.put``, then each bundle's main operation (donations: ``donate`` by
   donors' own keys; local currency: ``pay`` by residents' keys to a merchant), each with
   the same load generator as ``bench/ledger_throughput.py`` (pre-signed txs sent with
   ``broadcast_tx_sync`` round-robin; TPS = committed txs / time from the first broadcast
   to the last commit seen). ``ratio`` = bundle tx/s / kv tx/s of this run.

The last line is one summary:
``deploy_max_s=... main_op_ratio_min=... validate_max_s=... chain_deploy_max_s=... kv_tps=...
<bundle>_tps=...`` (``deploy_max_s`` is the slowest bundle through the platform).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger_throughput import CHAIN_ID, drive, machine  # noqa: E402
from ledger.client import LedgerClient  # noqa: E402
from ledger.network import create_operator_key, generate_network, local_nodes  # noqa: E402
from ledger.node import start_background, stop_background, wait_ready  # noqa: E402
from ledger.tx import Signer, build_tx  # noqa: E402

BUNDLES = Path(__file__).resolve().parent.parent / "sectors" / "bundles"


def validate_times() -> dict[str, tuple[float, Any]]:
    from sectors.bundle import load_dir
    from sectors.validation import validate

    times = {}
    for name in ("donations", "local_currency"):
        began = time.perf_counter()
        bundle = load_dir(BUNDLES / name)
        report = validate(bundle)
        elapsed = time.perf_counter() - began
        if not report.valid:
            raise SystemExit(f"{name} is not valid: {[p.code for p in report.problems]}")
        times[name] = (elapsed, bundle)
    return times


class Chain:
    """Signed calls on the bench network, waiting for their block."""

    def __init__(self, url: str, admin: Signer) -> None:
        self.client = LedgerClient(url, chain_id=CHAIN_ID, timeout=30)
        self.admin = admin

    def send(self, signer: Signer, chaincode: str, function: str, args: Any) -> Any:
        raw = build_tx(signer=signer, chain_id=CHAIN_ID, chaincode=chaincode,
                       function=function, args=args)
        result = self.client.broadcast(raw, wait="commit")
        return json.loads(result.data) if result.data else None


def deploy(chain: Chain, bundle: Any) -> float:
    manifest = bundle.manifest
    began = time.perf_counter()
    chain.send(chain.admin, "_lifecycle", "install",
               {"name": bundle.name, "version": bundle.version, "source": bundle.contract})
    init = manifest.get("init") or {}
    if init.get("function"):
        roles = {r["id"]: ["org1"] for r in manifest.get("roles", [])
                 if r.get("holder") == "organisation"}
        chain.send(chain.admin, bundle.name, init["function"],
                   {**(init.get("args") or {}), "roles": roles})
    return time.perf_counter() - began


def platform_deploys() -> dict[str, float]:
    """Deploy each platform bundle through the control plane onto a 4-validator network;
    seconds from the request to the operation's success, per bundle."""
    import shutil

    from bench.provision import (
        cleanup,
        owner_client,
        setup_environment,
        start_worker,
        stop_worker,
        wait_op,
    )

    tmp = Path(tempfile.mkdtemp(prefix="templates-bench-platform-"))
    env = setup_environment(tmp)
    client = owner_client(max_networks=10)
    worker = start_worker(tmp)
    times: dict[str, float] = {}
    try:
        res = client.post("/api/v1/networks/", {"name": "templates-bench", "validators": 4,
                                                "driver": "local", "public_access": True},
                          format="json")
        op = wait_op(client, res.json()["operation"]["id"])
        if op["state"] != "succeeded":
            raise SystemExit(f"network: {op['error_code']}: {op['error_message']}")
        network_id = res.json()["network"]["id"]
        catalogue = {t["name"]: t for t in client.get("/api/v1/templates/").json()}
        for name in ("donations", "local_currency"):
            began = time.perf_counter()
            res = client.post(f"/api/v1/networks/{network_id}/deployments/",
                              {"template": catalogue[name]["id"]}, format="json")
            op = wait_op(client, res.json()["operation"]["id"])
            times[name] = time.perf_counter() - began
            if op["state"] != "succeeded":
                raise SystemExit(f"deploy {name}: {op['error_code']}: {op['error_message']}")
    finally:
        stop_worker(worker)
        cleanup(env["BAAS_INSTALL_ID"])
        shutil.rmtree(tmp, ignore_errors=True)
    return times


def donations_load(chain: Chain, count: int) -> list[bytes]:
    chain.send(chain.admin, "donations", "create_campaign",
               {"id": "bench", "title": "Bench campaign", "goal": 10**12})
    donors = [Signer.generate() for _ in range(32)]
    return [build_tx(signer=donors[i % len(donors)], chain_id=CHAIN_ID, chaincode="donations",
                     function="donate", args={"campaign": "bench", "amount": 1000})
            for i in range(count)]


def currency_load(chain: Chain, count: int) -> list[bytes]:
    from sectors.tests.currency_scenario import bench_setup

    payments = bench_setup(lambda fn, **args: chain.send(chain.admin, "local_currency", fn,
                                                         args),
                           lambda key, fn, **args: chain.send(key, "local_currency", fn, args),
                           count)
    return [build_tx(signer=key, chain_id=CHAIN_ID, chaincode="local_currency",
                     function="pay", args=args) for key, args in payments]


def kv_load(chain: Chain, count: int) -> list[bytes]:
    return [build_tx(signer=chain.admin, chain_id=CHAIN_ID, chaincode="kv", function="put",
                     args=[f"key{i}", f"value{i}"]) for i in range(count)]


def main() -> int:
    from ledger.genesis import single_org_app_state

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--txs", type=int, default=1000, help="transactions per throughput run")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent senders")
    args = ap.parse_args()
    print(machine())
    print(f"conditions: 4 validators on this machine's loopback, timeout_commit=500ms, "
          f"{args.txs} txs per throughput run, {args.concurrency} concurrent senders",
          flush=True)
    validated = validate_times()
    for name, (elapsed, _bundle) in validated.items():
        print(f"validate {name}: {elapsed:.2f} s", flush=True)
    platform_times = platform_deploys()
    for name, elapsed in platform_times.items():
        print(f"deploy {name} through the platform: {elapsed:.2f} s (request -> operation "
              "succeeded)", flush=True)
    with tempfile.TemporaryDirectory(prefix="templates-bench-") as tmp:
        out = Path(tmp)
        key, public_hex = create_operator_key(out)
        nodes = local_nodes(4)
        homes = generate_network(chain_id=CHAIN_ID, nodes=nodes, out_dir=out,
                                 app_state=single_org_app_state(public_hex, open_access=True))
        try:
            for home in homes:
                start_background(home)
            urls = [f"http://127.0.0.1:{n.rpc_port}" for n in nodes]
            for url in urls:
                wait_ready(url, timeout=60)
            chain = Chain(urls[0], Signer.from_private_bytes(key))
            deploys = {name: deploy(chain, bundle) for name, (_, bundle) in validated.items()}
            for name, elapsed in deploys.items():
                print(f"chain deploy {name}: {elapsed:.2f} s (install + init committed)",
                      flush=True)
            tps = {}
            for name, load in (("kv", kv_load), ("donations", donations_load),
                               ("local_currency", currency_load)):
                txs = load(chain, args.txs)
                committed, rejected, latencies, elapsed, blocks = asyncio.run(
                    drive(urls, txs, args.concurrency))
                tps[name] = committed / elapsed if elapsed else 0.0
                print(f"{name}: {committed}/{len(txs)} committed, {rejected} rejected, "
                      f"{tps[name]:.1f} tx/s over {blocks} blocks", flush=True)
        finally:
            for home in homes:
                stop_background(home)
    ratios = {name: tps[name] / tps["kv"] if tps["kv"] else 0.0
              for name in ("donations", "local_currency")}
    for name, ratio in ratios.items():
        print(f"{name} main operation / kv.put: {ratio:.2f}")
    print(f"deploy_max_s={max(platform_times.values()):.2f} "
          f"main_op_ratio_min={min(ratios.values()):.2f} "
          f"validate_max_s={max(e for e, _ in validated.values()):.2f} "
          f"chain_deploy_max_s={max(deploys.values()):.2f} "
          f"kv_tps={tps['kv']:.1f} donations_tps={tps['donations']:.1f} "
          f"local_currency_tps={tps['local_currency']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
