"""Kinds and states of archives, and the operation kinds that make and use them."""

from __future__ import annotations

from django.db import models

NETWORK_EXPORT = "network.export"
NETWORK_BACKUP = "network.backup"
NETWORK_RESTORE = "network.restore"


class ArchiveKind(models.TextChoices):
    EXPORT = "export", "Export"
    BACKUP = "backup", "Backup"


class ArchiveStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
