"""Provisioning benchmark: how long from the create request to the first committed block.

For 1 and 4 validators on the local driver and (when the engine and node image are there)
the Docker driver, this measures through the real path -- REST API, service, broker, a
real Celery worker process, driver, CometBFT:

- ``first_block_s``: create request sent -> some validator reports a committed block (RPC
  ``/status``, polled every 0.1 s by the benchmark);
- ``running_s``: create request sent -> the operation succeeded (every node committed);
- ``delete_s``: delete request sent -> the delete operation succeeded;
- ``node_rss_mb``: resident memory per validator (node process + its CometBFT child for
  local; the container's memory usage for Docker), sampled once the network runs.

Everything runs in a throw-away var dir (SQLite + filesystem broker) with its own install
id, so nothing of a developer's setup is touched. Usage::

    .venv/bin/python bench/provision.py [--runs N] [--skip-docker]

The last line is one summary: ``local_1v_s=... local_4v_s=... docker_1v_s=... docker_4v_s=...
delete_4v_s=... node_rss_mb=...``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def setup_environment(tmp: Path) -> dict[str, str]:
    env = {
        "BAAS_VAR_DIR": str(tmp / "var"),
        "BAAS_INSTALL_ID": f"bench-{uuid.uuid4().hex[:8]}",
        "BAAS_NODES_DIR": str(tmp / "nodes"),
        "BAAS_NODE_KEYS_KEY_FILE": str(tmp / "kek"),
        "DJANGO_SETTINGS_MODULE": "baas.settings",
        "BAAS_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    return env


def start_worker(tmp: Path) -> subprocess.Popen:
    log = tmp / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "baas", "worker", "--pool=solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
         f"--logfile={log}"],
        cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and "ready." in log.read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit(f"celery worker did not start; see {log}")


def owner_client(*, max_networks: int):
    """Django set up on the throw-away database (migrated), one owner of a tenant "bench",
    and an API client signed in as that owner."""
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from tenants.models import Membership, Tenant, User

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench@example.test", "bench-password-123")
    tenant = Tenant.objects.create(name="Bench", slug="bench", max_networks=max_networks,
                                   max_validators_per_network=7)
    Membership.objects.create(user=user, tenant=tenant, role="owner")
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def stop_worker(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def wait_op(client, op_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = client.get(f"/api/v1/operations/{op_id}/").json()
        if op["state"] in ("succeeded", "failed", "cancelled"):
            return op
        time.sleep(0.1)
    raise SystemExit(f"operation {op_id} did not finish in {timeout}s")


def first_block(network_id: str, timeout: float = 300) -> float:
    from deploy import rpc
    from deploy.models import Node

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for url in Node.objects.filter(network_id=network_id).exclude(rpc_url="") \
                .values_list("rpc_url", flat=True):
            try:
                if rpc.status(url, timeout=0.5).height >= 1:
                    return time.monotonic()
            except rpc.RpcError:
                pass
        time.sleep(0.1)
    raise SystemExit(f"network {network_id} produced no block in {timeout}s")


def rss_mb_local(network_id: str) -> list[float]:
    """Resident memory of each node's session (the node runner and its CometBFT child)."""
    import json

    from deploy.models import Node

    sizes = []
    for node_id in Node.objects.filter(network_id=network_id).values_list("pk", flat=True):
        pid_file = Path(os.environ["BAAS_NODES_DIR"]) / network_id / str(node_id) / "node.pid"
        sid = json.loads(pid_file.read_text())["pid"]
        total_kb = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rfind(")") + 2:].split()
                if fields[3] != str(sid):
                    continue
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
            except (OSError, IndexError, ValueError):
                continue
        sizes.append(total_kb / 1024)
    return sizes


def rss_mb_docker(install_id: str) -> list[float]:
    import docker

    client = docker.from_env(timeout=30)
    sizes = []
    for container in client.containers.list(filters={"label": f"baas.install={install_id}"}):
        stats = container.stats(stream=False)
        sizes.append(stats.get("memory_stats", {}).get("usage", 0) / (1024 * 1024))
    return sizes


def docker_available() -> str:
    from deploy.drivers import DriverError, get_driver

    try:
        driver = get_driver("docker")
        driver.check()
        from deploy.drivers.runtimes import current_version

        driver.ensure_runtime(current_version())  # an image of this ledger/ is here
    except DriverError as exc:
        return f"{exc.code}: {exc.message}"
    return ""


def run_case(client, driver: str, validators: int, install_id: str) -> dict[str, float]:
    name = f"bench-{driver}-{validators}v-{uuid.uuid4().hex[:4]}"
    t0 = time.monotonic()
    res = client.post("/api/v1/networks/", {"name": name, "validators": validators,
                                            "driver": driver}, format="json")
    if res.status_code != 202:
        raise SystemExit(f"create failed: {res.status_code} {res.content[:300]!r}")
    network_id = res.json()["network"]["id"]
    t_block = first_block(network_id)
    op = wait_op(client, res.json()["operation"]["id"])
    t_running = time.monotonic()
    if op["state"] != "succeeded":
        raise SystemExit(f"{name}: {op['error_code']}: {op['error_message']}")
    rss = rss_mb_local(network_id) if driver == "local" else rss_mb_docker(install_id)
    t1 = time.monotonic()
    res = client.delete(f"/api/v1/networks/{network_id}/")
    op = wait_op(client, res.json()["operation"]["id"])
    if op["state"] != "succeeded":
        raise SystemExit(f"delete {name}: {op['error_code']}: {op['error_message']}")
    return {"first_block_s": t_block - t0, "running_s": t_running - t0,
            "delete_s": time.monotonic() - t1, "node_rss_mb": statistics.mean(rss) if rss else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per case (median reported)")
    parser.add_argument("--skip-docker", action="store_true")
    args = parser.parse_args()
    if shutil.which("cometbft") is None:
        raise SystemExit("cometbft is not on PATH: run scripts/install-cometbft.sh")

    tmp = Path(tempfile.mkdtemp(prefix="baas-bench-"))
    env = setup_environment(tmp)
    client = owner_client(max_networks=100)

    worker = start_worker(tmp)
    drivers = ["local"]
    why_not_docker = "skipped (--skip-docker)" if args.skip_docker else docker_available()
    if not why_not_docker:
        drivers.append("docker")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"machine: {platform.node()} {platform.machine()} cpus={os.cpu_count()} "
          f"python={platform.python_version()} date={when}")
    print("path: REST API -> service -> filesystem broker -> celery worker (solo) -> driver")
    if why_not_docker:
        print(f"docker: not measured ({why_not_docker})")
    results: dict[str, dict[str, float]] = {}
    try:
        for driver in drivers:
            for validators in (1, 4):
                runs = [run_case(client, driver, validators, env["BAAS_INSTALL_ID"])
                        for _ in range(args.runs)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                results[f"{driver}_{validators}v"] = med
                print(f"{driver:6} {validators}v  first_block={med['first_block_s']:.2f}s "
                      f"running={med['running_s']:.2f}s delete={med['delete_s']:.2f}s "
                      f"rss/node={med['node_rss_mb']:.0f}MB  (median of {args.runs})")
    finally:
        stop_worker(worker)
        cleanup(env["BAAS_INSTALL_ID"])
        shutil.rmtree(tmp, ignore_errors=True)

    def fig(key: str, field: str) -> str:
        return f"{results[key][field]:.2f}" if key in results else "n/a"

    print(
        f"local_1v_s={fig('local_1v', 'first_block_s')} "
        f"local_4v_s={fig('local_4v', 'first_block_s')} "
        f"docker_1v_s={fig('docker_1v', 'first_block_s')} "
        f"docker_4v_s={fig('docker_4v', 'first_block_s')} "
        f"delete_4v_s={fig('local_4v', 'delete_s')} "
        f"docker_delete_4v_s={fig('docker_4v', 'delete_s')} "
        f"local_rss_mb_per_node={fig('local_4v', 'node_rss_mb')} "
        f"docker_rss_mb_per_node={fig('docker_4v', 'node_rss_mb')}"
    )


def cleanup(install_id: str) -> None:
    """Remove anything a failed run left behind (this install id only)."""
    from deploy.drivers import get_driver

    for name in ("local", "docker"):
        try:
            driver = get_driver(name)
            driver.check()
            for network_id in {r.network_id for r in driver.list_owned(install_id=install_id)
                               if r.network_id}:
                driver.delete_network(network_id=network_id)
        except Exception:  # noqa: BLE001 -- best effort on the way out
            continue


if __name__ == "__main__":
    main()
