"""Prometheus metrics of the control plane, served at ``/metrics`` (docs/operations.md).

Two kinds of figures, kept apart because they live in different places:

- **Per process** (requests answered and how long they took): counted in memory by
  ``MetricsMiddleware``. Under gunicorn every worker is a process of its own; with
  ``PROMETHEUS_MULTIPROC_DIR`` set (``baas/gunicorn_conf.py`` sets it), ``prometheus_client``
  keeps them in shared files and a scrape of any worker sums them all.
- **Shared** (operations, networks, the reconciler, the task queue): read at scrape time from
  the database and the broker, which every web and Celery process shares, so any web worker
  gives the same answer and a restart loses nothing. Apps add their own with
  ``register_collector`` (``deploy`` adds networks and nodes); ``baas`` imports no app.

The exposition format is ``prometheus_client``'s own (``generate_latest``).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, F
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from baas.errors import json_error_response

logger = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "baas_http_requests", "HTTP requests answered, by method, view and status class.",
    ["method", "view", "status"])
HTTP_SECONDS = Histogram(
    "baas_http_request_duration_seconds",
    "Time from receiving a request to handing back its response (a stream's first byte).",
    ["method", "view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
# Methods outside this set are counted as OTHER: a client choosing arbitrary method names
# must not create new time series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_shared_collectors: list[Callable[[], Iterable[Any]]] = []


def register_collector(collect: Callable[[], Iterable[Any]]) -> None:
    """Add a function yielding metric families (``GaugeMetricFamily`` ...) read at scrape
    time. Called from ``AppConfig.ready``; registering the same function twice is a no-op."""
    if collect not in _shared_collectors:
        _shared_collectors.append(collect)


# -- totals of background work ----------------------------------------------------------

def add_totals(name: str, counts: dict[str, int]) -> None:
    """Add ``counts`` (label -> amount) to the running totals named ``name``."""
    from django.db import IntegrityError, transaction

    from baas.models import MetricTotal

    for label, amount in counts.items():
        if not amount:
            continue
        label = str(label)[:64]
        if MetricTotal.objects.filter(name=name, label=label).update(
                value=F("value") + amount):
            continue
        try:
            with transaction.atomic():
                MetricTotal.objects.create(name=name, label=label, value=amount)
        except IntegrityError:  # another process created it first
            MetricTotal.objects.filter(name=name, label=label).update(
                value=F("value") + amount)


# -- per-process request metrics ----------------------------------------------------------

def _view_label(request: HttpRequest) -> str:
    """The matched URL pattern's name, never the raw path: ids in paths and probes of
    random URLs would make a new series each."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return (match.view_name or match.route or "unnamed")[:100]


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "OTHER"
        view = _view_label(request)
        HTTP_REQUESTS.labels(method, view, f"{response.status_code // 100}xx").inc()
        HTTP_SECONDS.labels(method, view).observe(time.perf_counter() - started)
        return response


# -- shared figures, read at scrape time ---------------------------------------------------

def _operations() -> Iterator[Any]:
    from baas.models import MetricTotal, Operation

    family = GaugeMetricFamily(
        "baas_operations", "Operations on record, by kind and state.", labels=["kind", "state"])
    for row in Operation.objects.values("kind", "state").annotate(n=Count("id")):
        family.add_metric([row["kind"], row["state"]], row["n"])
    yield family
    passes = CounterMetricFamily("baas_reconciler_passes", "Reconciler passes run.")
    outcomes = CounterMetricFamily(
        "baas_reconciler_outcomes",
        "What reconciler passes did (repairs, restarts, skips, errors), by outcome.",
        labels=["outcome"])
    for total in MetricTotal.objects.filter(
            name__in=["reconciler_passes", "reconciler_outcomes"]):
        if total.name == "reconciler_passes":
            passes.add_metric([], total.value)
        else:
            outcomes.add_metric([total.label], total.value)
    yield passes
    yield outcomes


def _queue() -> Iterator[Any]:
    """Messages waiting in the Celery queue, asked of the broker (Redis or the filesystem
    transport) through kombu, so the figure is the broker's, not a guess."""
    from kombu import Connection

    from baas.celery import app

    queue = app.conf.task_default_queue or "celery"
    depth = GaugeMetricFamily("baas_queue_messages", "Tasks waiting in the queue.",
                              labels=["queue"])
    up = GaugeMetricFamily("baas_queue_up", "Whether the broker answered this scrape.")
    try:
        with Connection(settings.CELERY_BROKER_URL,
                        transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS",
                                                  {})) as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.BAAS_READY_BROKER_TIMEOUT)
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
            depth.add_metric([queue], declared.message_count)
            up.add_metric([], 1)
    except Exception as exc:  # noqa: BLE001 -- kombu raises transport-specific errors
        # A queue nobody declared yet is empty, which some transports report as an error.
        logger.warning("metrics: the broker did not answer: %s", exc)
        up.add_metric([], 0)
    yield depth
    yield up


register_collector(_operations)
register_collector(_queue)


class _Shared(Collector):
    def collect(self) -> Iterator[Any]:
        for collect in _shared_collectors:
            try:
                yield from collect()
            except Exception:  # noqa: BLE001 -- one broken source must not hide the rest
                logger.exception("metrics: collector %s failed", collect.__name__)


def exposition() -> bytes:
    """The text a scrape gets: this process's (or all workers') metrics, then the shared ones."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    shared = CollectorRegistry(auto_describe=False)
    shared.register(_Shared())
    return generate_latest(processes) + generate_latest(shared)


def _authorised(request: HttpRequest) -> bool:
    token = getattr(settings, "BAAS_METRICS_TOKEN", None)
    header = request.headers.get("Authorization", "")
    scheme, _sep, given = header.partition(" ")
    return (scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), token.encode()))


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics``: open in development; in production only with a bearer token that
    ``BAAS_METRICS_TOKEN_FILE`` holds (without it, closed)."""
    if getattr(settings, "BAAS_METRICS_TOKEN", None):
        if not _authorised(request):
            response = json_error_response(
                "metrics_unauthorized",
                _("Send the metrics token as 'Authorization: Bearer <token>'."), 401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif getattr(settings, "PRODUCTION", False):
        return json_error_response(
            "metrics_disabled",
            _("Metrics are closed in production until BAAS_METRICS_TOKEN_FILE names a "
              "file holding a token."), 403)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
