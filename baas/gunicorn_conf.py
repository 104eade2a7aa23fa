"""gunicorn settings of the production server (``docs/serving.md``)::

    gunicorn -c python:baas.gunicorn_conf baas.asgi:application

gunicorn manages the processes (restarts a worker that dies or hangs, graceful reloads);
each worker is a uvicorn event loop serving Django's ASGI application, so an open event
stream waits on the loop instead of occupying a worker. Everything comes from the
environment, like ``baas/settings.py``; every variable is in ``docs/configuration.md``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from uvicorn_worker import UvicornWorker as _UvicornWorker


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# Addresses to listen on, comma-separated ("0.0.0.0:8000" in a container; a unix: path also
# works). The development default matches `make run`.
bind = [b.strip() for b in os.environ.get("BAAS_LISTEN", "127.0.0.1:8000").split(",")
        if b.strip()]
# Worker processes. Each holds thousands of idle event streams, so this follows the CPUs the
# process may really use, not the number of streams. A fixed default rather than
# os.cpu_count(): in a container that counts the node's CPUs, not the pod's CPU limit.
workers = _int_env("BAAS_WEB_WORKERS", 2)
worker_class = "baas.gunicorn_conf.UvicornWorker"
# Open connections one worker accepts before it answers 503 (uvicorn's limit_concurrency,
# set from gunicorn's own setting for it). Every open event stream also parks one idle
# thread (Django runs each request's sync code in a thread kept until the response ends),
# so this bounds a worker's threads and memory (about 350 kB a stream measured, see
# docs/serving.md) well before a pids limit or the OOM killer would.
worker_connections = _int_env("BAAS_WEB_MAX_CONNECTIONS", 1000)
# SIGTERM (a rolling update, a scale-down) lets requests and streams finish for this many
# seconds before the worker is killed. Kept under Kubernetes' default 30 s grace period.
graceful_timeout = _int_env("BAAS_GRACEFUL_TIMEOUT", 25)
# A worker that stops answering gunicorn's heartbeat this long is restarted. uvicorn
# workers beat from their event loop, so a long stream never trips it.
timeout = 30
keepalive = 5
# Proxies whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes (it then reports the
# client's address and scheme to Django). Comma-separated IPs or networks; "*" trusts any
# peer, which is right only when nothing but the ingress can reach the pod (for example a
# NetworkPolicy). The default trusts a proxy on the same host only.
forwarded_allow_ips = os.environ.get("BAAS_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("BAAS_LOG_LEVEL", "INFO").lower()
proc_name = "baas-web"
# gunicorn 27 opens a control socket (for `gunicornc`) under the home directory; nothing
# here uses it, two servers on one machine would share its path, and a container may have
# no writable home.
control_socket_disable = True
# The heartbeat file of each worker: on tmpfs when there is one, since a container's /tmp
# can sit on a slow overlay disk and a stalled heartbeat write gets the worker killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Request metrics of every worker in files a scrape of any worker sums (prometheus_client's
# multiprocess mode, baas/metrics.py). Set here, in the master, before a worker imports
# prometheus_client; a fresh directory per server start, so no figure of a past run leaks in.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="baas-metrics-",
                                                              dir=worker_tmp_dir)


class UvicornWorker(_UvicornWorker):
    """uvicorn's gunicorn worker with two of gunicorn's settings it leaves out: the
    connection limit (``worker_connections``) and a shutdown deadline of its own.

    On SIGTERM uvicorn waits for open responses, and an event stream may run for minutes
    (``BAAS_SSE_MAX_SECONDS``); gunicorn would SIGKILL the worker at ``graceful_timeout``
    with the streams' cleanup never run. Here uvicorn cancels what is left a little
    earlier, so every stream ends through its ``finally`` and clients reconnect elsewhere.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Django has no ASGI lifespan handler; "off" spares every boot a log line saying so.
        self.config.lifespan = "off"
        self.config.timeout_graceful_shutdown = max(1, int(self.cfg.graceful_timeout) - 3)
        self.config.limit_concurrency = int(self.cfg.worker_connections)


class PathOnlyAccessLog(logging.Filter):
    """Drops the query string from uvicorn's access lines: a query may carry a secret
    (a token pasted into a URL, a search term), and logs are kept and shipped around."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' with (client, method, path?query, version,
        # status); anything else passes unchanged.
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def post_worker_init(worker: Any) -> None:
    # Here, not at import: the worker has set up uvicorn's loggers by now (it replaces
    # their handlers, filters on the logger itself stay).
    logging.getLogger("uvicorn.access").addFilter(PathOnlyAccessLog())


def child_exit(server: Any, worker: Any) -> None:
    # A dead worker's live gauges would otherwise be summed forever; its counters stay.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(directory).startswith("baas-metrics-"):
        shutil.rmtree(directory, ignore_errors=True)
