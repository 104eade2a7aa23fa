"""Archives of networks (exports and backups) and per-network backup schedules.

An ``Archive`` row describes a file under ``BAAS_BACKUP_DIR`` (``<tenant>/<id>.tar.gz``) or
an object in the S3 bucket (``archives.store``, at the key the row names); the file is
written aside and renamed (or uploaded), so a row is ``ready`` only once its file is whole.
The passphrase of a backup is never stored with it; a schedule keeps its passphrase
sealed with the platform's key file (``deploy.crypto``) so beat can make backups alone.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from archives.choices import ArchiveKind, ArchiveStatus
from baas.querysets import TenantScopedQuerySet


class Archive(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE,
                               related_name="archives")
    # The network it was made of; kept (null) when the network row goes.
    network = models.ForeignKey("deploy.Network", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="archives")
    kind = models.CharField(max_length=10, choices=ArchiveKind.choices)
    status = models.CharField(max_length=10, choices=ArchiveStatus.choices,
                              default=ArchiveStatus.PENDING)
    network_name = models.CharField(max_length=63)
    chain_id = models.CharField(max_length=50)
    ledger_version = models.CharField(max_length=16, blank=True, default="")
    validators = models.PositiveSmallIntegerField(default=0)
    height = models.BigIntegerField(default=0)
    app_hash = models.CharField(max_length=128, blank=True, default="")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    scheduled = models.BooleanField(default=False)
    # Where the file lives (archives.store): set when the row is made, so changing
    # BAAS_BACKUP_STORE later never loses track of older archives.
    store = models.CharField(max_length=8, default="local",
                             choices=[("local", "local directory"), ("s3", "S3 bucket")])
    # The S3 object of a ready archive: the key of the run that made it ready (each run
    # uploads to a key of its own, recorded when the archive becomes ready). Empty: an
    # archive made before per-run keys, kept at ``S3Store.key(tenant, id)``
    # (``store.archive_key``).
    object_key = models.CharField(max_length=255, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "kind", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} of {self.network_name} ({self.status})"

    @property
    def file_name(self) -> str:
        return f"{self.kind}-{self.network_name}-{self.created_at:%Y%m%dT%H%M%S}.tar.gz"


class BackupSchedule(models.Model):
    network = models.OneToOneField("deploy.Network", on_delete=models.CASCADE,
                                   related_name="backup_schedule")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=True)
    interval_hours = models.PositiveIntegerField(default=24)
    keep = models.PositiveSmallIntegerField(default=7)  # scheduled backups kept
    sealed_passphrase = models.BinaryField()
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"backups of {self.network_id} every {self.interval_hours} h"
