"""Per-request context (request id, source IP) that services can read without a request.

The middleware in ``baas.middleware`` fills these for every HTTP request; Celery tasks and
management commands leave them empty, so audit records written there carry no IP.
"""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
source_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "source_ip", default=None
)


def current_request_id() -> str:
    return request_id_var.get()


def current_source_ip() -> str | None:
    return source_ip_var.get()
