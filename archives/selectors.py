"""Reads of archives and schedules, always through the tenant."""

from __future__ import annotations

import uuid
from typing import Any

from archives.choices import NETWORK_RESTORE
from archives.models import Archive, BackupSchedule
from baas.errors import NotFound
from baas.models import Operation


def archive_list(*, tenant: Any, network: Any = None, kind: str | None = None) -> Any:
    archives = Archive.objects.for_tenant(tenant)
    if network is not None:
        archives = archives.filter(network=network)
    if kind:
        archives = archives.filter(kind=kind)
    return archives.order_by("-created_at")


def archive_get(*, tenant: Any, archive_id: Any) -> Archive:
    try:
        uuid.UUID(str(archive_id))
    except ValueError:
        raise NotFound("not_found", "Archive not found.") from None
    archive = Archive.objects.for_tenant(tenant).filter(pk=archive_id).first()
    if archive is None:
        raise NotFound("not_found", "Archive not found.")
    return archive


def schedule_get(*, tenant: Any, network: Any) -> BackupSchedule | None:
    return BackupSchedule.objects.for_tenant(tenant).filter(network=network).first()


def restore_list(*, tenant: Any) -> Any:
    return Operation.objects.filter(tenant=tenant, kind=NETWORK_RESTORE).order_by(
        "-created_at")[:200]
