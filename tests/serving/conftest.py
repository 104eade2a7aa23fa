"""The production server, for real: ``gunicorn -c python:baas.gunicorn_conf
baas.asgi:application`` as a subprocess on a free loopback port, with ONE uvicorn worker,
on the test database (the same file or PostgreSQL database the test writes to, like the
Celery worker of tests/e2e), so rows a test creates are what the server serves.

Tests that use it need ``transactional_db``: the server is another process and only sees
committed rows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import REPO, _database_url, _tail


@dataclass
class Server:
    url: str
    port: int
    master: subprocess.Popen
    log: Path

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes: the master's children."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.master.pid:
                pids.append(int(entry.name))
        return pids

    def established(self) -> int:
        """Server-side TCP connections of the listening port that are ESTABLISHED: what
        the server really holds open, whatever the client believes."""
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == self.port and fields[3] == "01":
                    count += 1
        return count


def sqlite_connections(pid: int) -> int | None:
    """How many connections process ``pid`` holds to the test database, counted as open
    descriptors of the database file; None on PostgreSQL (not counted there)."""
    from django.db import connection

    if not connection.vendor == "sqlite":
        return None
    target = str(Path(connection.settings_dict["NAME"]).resolve())
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == target
        except OSError:
            continue  # closed meanwhile
    return count


def process_status(pid: int) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict (VmRSS, Threads, ...)."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    return status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_server(log: Path, **extra_env: str) -> Iterator[Server]:
    """Start gunicorn with one uvicorn worker on the test database; stop it (SIGTERM) at
    the end unless the caller already has."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "baas.settings",
        "BAAS_LISTEN": f"127.0.0.1:{port}",
        "BAAS_WEB_WORKERS": "1",
        # Streams poll often, so a test sees a change quickly; far more often than the
        # default, which makes the 200-stream test a harder load, not an easier one.
        "BAAS_SSE_POLL_SECONDS": "0.25",
        "BAAS_GRACEFUL_TIMEOUT": "10",
        **extra_env,
    }
    with log.open("wb") as out:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:baas.gunicorn_conf",
             "baas.asgi:application"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    served = Server(url=f"http://127.0.0.1:{port}", port=port, master=master, log=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if master.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {master.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(served.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz:\n{_tail(log)}")
            time.sleep(0.2)
        yield served
    finally:
        _stop(master)


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[Server]:
    """One server for the module's tests (it starts in a few seconds; its rows come and go
    with each test's transactional_db)."""
    with running_server(tmp_path_factory.mktemp("gunicorn") / "server.log") as served:
        yield served
