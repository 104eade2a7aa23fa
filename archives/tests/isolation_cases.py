"""Tenant-isolation cases for the archives API (see ``baas.testing``)."""

from __future__ import annotations

from django.utils import timezone

from archives.models import Archive, BackupSchedule
from baas.models import Operation
from baas.testing import IsolationCase
from deploy import crypto
from deploy.models import Network


def _archive(tenant, owner):
    network = Network.objects.create(tenant=tenant, name="kept", chain_id=f"kept-{tenant.pk}"[:50],
                                     validator_count=1, status="running")
    return Archive.objects.create(tenant=tenant, network=network, kind="backup",
                                  status="ready", network_name="kept", chain_id="kept")


def _scheduled(tenant, owner):
    archive = _archive(tenant, owner)
    BackupSchedule.objects.create(network=archive.network, tenant=tenant,
                                  sealed_passphrase=crypto.seal(b"a long passphrase"),
                                  next_run_at=timezone.now())
    return archive


def _restore(tenant, owner):
    return Operation.objects.create(tenant=tenant, kind="network.restore",
                                    target_type="deploy.network", target_id="x")


CASES = [
    IsolationCase("restores", _restore, "/api/v1/restores/",
                  lambda o: f"/api/v1/operations/{o.pk}/", ("get",)),
    IsolationCase("archives", _archive, "/api/v1/archives/",
                  lambda o: f"/api/v1/archives/{o.pk}/", ("get", "delete")),
    IsolationCase("network-backups", _archive,
                  "/api/v1/archives/?kind=backup",
                  lambda o: f"/api/v1/networks/{o.network_id}/backups/", ("get", "post")),
    IsolationCase("network-exports", _archive, "/api/v1/archives/",
                  lambda o: f"/api/v1/networks/{o.network_id}/exports/", ("get", "post")),
    IsolationCase("network-backup-schedule", _scheduled, "/api/v1/archives/",
                  lambda o: f"/api/v1/networks/{o.network_id}/backup-schedule/",
                  ("get", "put")),
]
