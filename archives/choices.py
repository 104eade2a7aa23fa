"""Kinds and states of archives, and the operation kinds that make and use them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

NETWORK_EXPORT = "network.export"
NETWORK_BACKUP = "network.backup"
NETWORK_RESTORE = "network.restore"


class ArchiveKind(models.TextChoices):
    EXPORT = "export", _("Export")
    BACKUP = "backup", _("Backup")


class ArchiveStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
