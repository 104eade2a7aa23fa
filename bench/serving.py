"""The production server's cost per open event stream, and the API's latency meanwhile.

    .venv/bin/python bench/serving.py [--streams 200,500,1000] [--calls 20]

On this machine: SQLite in a throw-away dir (as ``bench/provision.py``), one owner, one API
token and one running operation (so no stream ends by itself); then
``gunicorn -c python:baas.gunicorn_conf baas.asgi:application`` with ONE uvicorn worker on
loopback, the operation streams polling every second (the default). For each count N:

1. open N operation event streams at once (httpx, one connection each) and wait until each
   delivered its first ``progress`` event (``open_s``);
2. with all N open: how many connections the server holds (``held``), the worker's RSS
   and thread count (``/proc``), then ``--calls`` sequential calls each of ``/healthz``
   and ``GET /api/v1/operations/`` (token), each on a fresh connection: median and max
   latency in ms;
3. close the streams and wait until the server holds none.

Before the first N the same calls run with no stream open (``N=0``). Client and server share
the machine's CPUs, so the latencies include the client's own work.

The last line is one summary for the largest N:
``streams=... rss_mb=... rss_per_stream_kb=... threads=... api_p50_ms=... api_max_ms=...
healthz_p50_ms=... api_p50_ms_idle=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.provision import owner_client, setup_environment  # noqa: E402
from tests.serving.conftest import Server, _free_port, _stop, process_status  # noqa: E402


def machine() -> str:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} CPUs, {model}; {platform.system()} "
            f"{platform.release()}; python {platform.python_version()}; "
            f"load average at start {load}")


def start_server(tmp: Path) -> Server:
    port = _free_port()
    log = tmp / "server.log"
    env = {**os.environ, "BAAS_LISTEN": f"127.0.0.1:{port}", "BAAS_WEB_WORKERS": "1"}
    with log.open("wb") as out:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:baas.gunicorn_conf",
             "baas.asgi:application"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}", port=port, master=master, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not start; see {log}")


async def latencies(server: Server, path: str, headers: dict[str, str],
                    calls: int) -> list[float]:
    took = []
    for _ in range(calls):
        async with httpx.AsyncClient(base_url=server.url, timeout=300) as client:
            began = time.perf_counter()
            response = await client.get(path, headers=headers)
            took.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
    return took


async def measure(server: Server, worker: int, op_id: int, token: str, count: int,
                  calls: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    result: dict[str, Any] = {"streams": count}
    if count:
        release = asyncio.Event()
        opened = 0
        all_open = asyncio.Event()
        limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)

        async def hold(client: httpx.AsyncClient) -> None:
            nonlocal opened
            async with client.stream("GET", f"/api/v1/operations/{op_id}/events/",
                                     headers=auth) as response:
                # Kept in a variable: an abandoned line iterator is closed when collected,
                # and that closes the stream.
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("event: progress"):
                        break
                opened += 1
                if opened == count:
                    all_open.set()
                await release.wait()
                async for line in lines:  # still served: the next keep-alive arrives
                    if line.startswith(":"):
                        break

        client = httpx.AsyncClient(base_url=server.url, limits=limits, timeout=300)
        began = time.perf_counter()
        tasks = [asyncio.create_task(hold(client)) for _ in range(count)]
        await asyncio.wait_for(all_open.wait(), 600)
        result["open_s"] = time.perf_counter() - began
    result["established"] = server.established()
    status = process_status(worker)
    result["rss_kb"] = int(status["VmRSS"].split()[0])
    result["threads"] = int(status["Threads"])
    result["healthz"] = await latencies(server, "/healthz", {}, calls)
    result["api"] = await latencies(server, "/api/v1/operations/", auth, calls)
    if count:
        release.set()
        await asyncio.gather(*tasks)
        await client.aclose()
        deadline = time.monotonic() + 120
        while server.established() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="200,500,1000")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="baas-bench-serving-"))
    setup_environment(tmp)
    print(machine())
    print(f"conditions: gunicorn + 1 uvicorn worker on loopback, SQLite (WAL) in {tmp}, "
          f"operation streams polling every 1 s, client in this process on the same CPUs")
    owner_client(max_networks=1)  # django set up, migrated, an owner
    from baas.operations import operation_create, operation_transition
    from tenants.models import Membership
    from tenants.services import token_create

    membership = Membership.objects.select_related("tenant", "user").get()
    _, token = token_create(tenant=membership.tenant, actor=membership.user,
                            membership=membership, name="bench", scopes=["read"])
    op = operation_create(tenant=membership.tenant, actor=membership.user, kind="bench")
    operation_transition(operation_id=op.pk, to="running")

    server = start_server(tmp)
    try:
        (worker,) = server.worker_pids()
        rows = [asyncio.run(measure(server, worker, op.pk, token, n, args.calls))
                for n in [0, *counts]]
    finally:
        _stop(server.master)
    idle = rows[0]
    print(f"{'streams':>7} {'held':>5} {'open_s':>7} {'rss_mb':>7} {'threads':>7} "
          f"{'healthz_p50':>11} {'api_p50':>8} {'api_max':>8}  (ms)")
    for row in rows:
        print(f"{row['streams']:>7} {row['established']:>5} {row.get('open_s', 0):>7.2f} "
              f"{row['rss_kb'] / 1024:>7.1f} {row['threads']:>7} "
              f"{statistics.median(row['healthz']):>11.1f} "
              f"{statistics.median(row['api']):>8.1f} {max(row['api']):>8.1f}")
    top = rows[-1]
    per_stream = (top["rss_kb"] - idle["rss_kb"]) / top["streams"]
    print(f"streams={top['streams']} rss_mb={top['rss_kb'] / 1024:.1f} "
          f"rss_per_stream_kb={per_stream:.0f} threads={top['threads']} "
          f"api_p50_ms={statistics.median(top['api']):.1f} api_max_ms={max(top['api']):.1f} "
          f"healthz_p50_ms={statistics.median(top['healthz']):.1f} "
          f"api_p50_ms_idle={statistics.median(idle['api']):.1f}")


if __name__ == "__main__":
    main()
