"""Driver errors as API errors (drivers stay free of Django and of ``baas``)."""

from __future__ import annotations

from typing import Any

from baas.errors import AppError


def driver_app_error(exc: Any) -> AppError:
    """A ``DriverError`` as an API error: unavailable runtimes are 503, the rest 502."""
    status = 503 if exc.code in ("driver_unavailable", "driver_timeout") else 502
    return AppError(exc.code, exc.message, status=status)
