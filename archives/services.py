"""Writes for exports, backups, restores and backup schedules.

Each service checks role and input, records an ``Archive`` (or a new ``Network``) and an
operation, audits, and queues its task after commit. Every refusal happens here, before
anything is made: a bad request leaves no row, no file and no network behind.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from archives import fmt, store, tasks
from archives.choices import (
    NETWORK_BACKUP,
    NETWORK_EXPORT,
    NETWORK_RESTORE,
    ArchiveKind,
    ArchiveStatus,
)
from archives.models import Archive, BackupSchedule
from baas.choices import ACTIVE
from baas.errors import AppError, Conflict, NotFound, QuotaExceeded, ValidationFailed
from baas.models import Operation
from baas.operations import enqueue_after_commit, operation_create
from deploy import crypto, homes, platform
from deploy.choices import NETWORK_BUSY, NETWORK_LIVE, DesiredState, NetworkStatus, NodeStatus
from deploy.guards import require_owner
from deploy.models import Network
from deploy.services import NetworkSpec, _check_quota, _validate_spec

log = logging.getLogger(__name__)

DEADLINE = timedelta(hours=2)
MAX_PASSPHRASE = 1024


def backup_dir() -> Path:
    return Path(settings.BAAS_BACKUP_DIR)


def archive_path(archive: Archive) -> Path:
    """The archive's file: its place under ``BAAS_BACKUP_DIR`` (local store), or the file
    it is written to before the upload (S3 store)."""
    return backup_dir() / str(archive.tenant_id) / f"{archive.pk}.tar.gz"


def store_error(exc: store.StoreError) -> AppError:
    """A store failure as an API error: 503 unavailable, 404 missing, 400 damaged."""
    if exc.code == "archive_object_missing":
        return NotFound(exc.code, _("The archive's file is not in the backup store."))
    if exc.code == "archive_corrupt":
        return ValidationFailed(exc.code, _("The backup in the store is damaged: its size or "
                                            "SHA-256 is not the one recorded when it was "
                                            "made."))
    if exc.code == "backup_too_large":
        return ValidationFailed(exc.code, exc.message)
    if exc.reason == "not_configured":
        # An archive kept in S3 after the platform went back to BAAS_BACKUP_STORE=local (or
        # lost the S3 settings): only configuring the store again reaches it.
        return AppError(exc.code, _(
            "This archive is kept in the S3 backup store, which is not configured on the "
            "platform now: its operators must set the store's endpoint, bucket and "
            "credential files (BAAS_BACKUP_S3_*) again before it can be downloaded, "
            "restored or deleted."), status=503, details={"reason": exc.reason})
    return AppError(exc.code, _("The backup store cannot be used right now; try again "
                                "later."), status=503, details={"reason": exc.reason})


def archive_file_remove(archive: Archive, *, strict: bool = False) -> None:
    """Remove an archive's file wherever it is kept. ``strict``: a store that cannot be
    reached is an error (the row must then stay); otherwise it is logged and left for the
    bucket's owner (the object is named after the archive id). The object is the one the
    row names (``store.archive_key``); what a run uploaded and never made ready is that
    run's to remove (``workflows._drop``), or the sweep's (``archives_sweep``)."""
    archive_path(archive).unlink(missing_ok=True)
    if archive.store != store.S3:
        return
    try:
        bucket = store.s3()
        bucket.delete(store.archive_key(bucket, archive))
    except store.StoreError as exc:
        if exc.code == "archive_object_missing":
            return
        if strict:
            raise store_error(exc) from None
        log.warning("archive %s: its S3 object was not removed (%s)", archive.pk, exc.reason)


def remove_file(sender: Any, instance: Archive, **kwargs: Any) -> None:
    """``post_delete`` of an archive row: its file goes too, however the row went (unless
    ``_delete_strictly`` removed it already)."""
    if not getattr(instance, "_file_removed", False):
        archive_file_remove(instance)


def _delete_strictly(archive: Archive) -> bool:
    """Remove the archive's file, then its row; a store that cannot remove the file keeps
    the row (it names the object: an export's keys in clear must not stay in the bucket
    with nothing left to say so), and the next sweep tries again. True: both went."""
    try:
        archive_file_remove(archive, strict=True)
    except AppError as exc:
        log.warning("archive %s kept: its file could not be removed (%s); the next sweep "
                    "tries again", archive.pk, exc.code)
        return False
    archive._file_removed = True  # type: ignore[attr-defined]
    archive.delete()
    return True


def upload_path(tenant: Any, upload_id: str) -> Path:
    return backup_dir() / str(tenant.pk) / "uploads" / f"{upload_id}.tar.gz"


def check_passphrase(passphrase: Any) -> str:
    if not isinstance(passphrase, str) or not fmt.MIN_PASSPHRASE <= len(passphrase) \
            <= MAX_PASSPHRASE:
        raise ValidationFailed(
            "weak_passphrase",
            _("A backup passphrase has %(min)s to %(max)s characters.")
            % {"min": fmt.MIN_PASSPHRASE, "max": MAX_PASSPHRASE})
    return passphrase


# Drivers that can copy a node's data (``Driver.export_node_home`` / ``import_node``).
COPYING_DRIVERS = ("local", "docker")


def _copyable(tenant: Any, network: Network, *, running_only: bool) -> None:
    require_owner(tenant, network)
    if network.driver not in COPYING_DRIVERS:
        raise Conflict("archives_not_supported",
                       _("Export, backup and restore are not supported on the %(driver)s "
                         "driver yet.") % {"driver": network.driver})
    if network.status in NETWORK_BUSY or network.status == NetworkStatus.DELETED:
        raise Conflict("network_busy",
                       _("The network is %(status)s; wait until it is running or stopped.")
                       % {"status": network.status})
    if running_only and network.status not in NETWORK_LIVE:
        raise Conflict("network_not_running",
                       _("Only a running network can be backed up; start it first."),
                       details={"status": network.status})
    if not running_only and network.status not in NETWORK_LIVE | {NetworkStatus.STOPPED}:
        raise Conflict("network_busy",
                       _("The network is %(status)s; only a running or stopped network can "
                         "be exported.") % {"status": network.status})
    if network.nodes.exclude(status=NodeStatus.DELETED).exclude(
            tenant_id=network.tenant_id).exists():
        raise Conflict("network_has_member_validators",
                       _("Validators of this network are run by other organisations; their "
                         "keys are not yours to copy."))
    node_ids = [str(pk) for pk in network.nodes.values_list("pk", flat=True)]
    if Operation.objects.filter(target_type="deploy.network", target_id=str(network.pk),
                                state__in=ACTIVE).exists() or Operation.objects.filter(
            target_type="deploy.node", target_id__in=node_ids, state__in=ACTIVE).exists():
        # A node restart stops and starts a node the copy would stop and start too.
        raise Conflict("network_busy",
                       _("Another operation works on this network; try again when it ends."))
    archive_in_progress(network)


def archive_in_progress(network: Network) -> None:
    """Refuse while an export or backup of ``network`` runs. Registered with
    ``deploy.guards`` too: a validator, membership, chaincode or version change must not
    start while a copy stops and starts the validators one by one."""
    if Archive.objects.filter(network_id=network.pk, status=ArchiveStatus.PENDING,
                              created_at__gte=timezone.now() - DEADLINE).exists():
        raise Conflict("network_busy",
                       _("Another operation works on this network; try again when it ends."))


def _archive_quota(tenant: Any) -> None:
    limit = int(settings.BAAS_ARCHIVE_MAX_PER_TENANT)
    used = Archive.objects.filter(tenant=tenant).exclude(status=ArchiveStatus.FAILED).count()
    if used >= limit:
        raise QuotaExceeded("quota_exceeded",
                            _("Your organisation keeps %(limit)s archives already; delete "
                              "some first.") % {"limit": limit},
                            details={"quota": "archives", "limit": limit, "used": used})


def _archive_create(*, tenant: Any, actor: Any, network: Network, kind: str, op_kind: str,
                    task: Any, params: dict[str, Any], request: Any, scheduled: bool = False,
                    ) -> tuple[Archive, Operation]:
    with transaction.atomic():
        # The checks again under the network's lock: two requests that both passed them
        # before must not both start a copy.
        locked = Network.objects.select_for_update().filter(pk=network.pk).first()
        if locked is None:
            raise Conflict("network_busy", _("The network is gone."))
        _copyable(tenant, locked, running_only=kind == ArchiveKind.BACKUP)
        _archive_quota(tenant)
        archive = Archive.objects.create(
            tenant=tenant, network=network, kind=kind, network_name=network.name,
            chain_id=network.chain_id, ledger_version=network.ledger_version,
            scheduled=scheduled, store=store.configured(),
            created_by=actor if getattr(actor, "pk", None) else None)
        op = operation_create(tenant=tenant, actor=actor, kind=op_kind,
                              target=("archives.archive", archive.pk), deadline=DEADLINE,
                              params={"network": str(network.pk)})
        platform.audit(tenant=tenant, actor=actor, action=op_kind, target=network,
                       request=request, metadata={"archive": str(archive.pk),
                                                  "scheduled": scheduled})
        enqueue_after_commit(task, str(archive.pk), op.pk, **params)
    return archive, op


def export_create(*, tenant: Any, actor: Any, network: Network,
                  request: Any = None) -> tuple[Archive, Operation]:
    """An archive that runs the network without this platform (keys in clear inside)."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    _copyable(tenant, network, running_only=False)
    return _archive_create(tenant=tenant, actor=actor, network=network,
                           kind=ArchiveKind.EXPORT, op_kind=NETWORK_EXPORT,
                           task=tasks.export_task, params={}, request=request)


def backup_create(*, tenant: Any, actor: Any, network: Network, passphrase: Any,
                  request: Any = None, scheduled: bool = False) -> tuple[Archive, Operation]:
    """A backup of a running network, its keys sealed with the tenant's ``passphrase``.
    The passphrase goes to the task sealed with the platform key, never in clear."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    sealed = crypto.seal(check_passphrase(passphrase).encode()).decode()
    _copyable(tenant, network, running_only=True)
    return _archive_create(tenant=tenant, actor=actor, network=network,
                           kind=ArchiveKind.BACKUP, op_kind=NETWORK_BACKUP,
                           task=tasks.backup_task, params={"sealed_passphrase": sealed},
                           request=request, scheduled=scheduled)


def require_admin(*, tenant: Any, actor: Any) -> None:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")


def audit_download(*, tenant: Any, actor: Any, archive: Archive, request: Any = None) -> None:
    """Who took a copy of the keys, and when."""
    platform.audit(tenant=tenant, actor=actor, action="archive.download", target=archive,
                   request=request, metadata={"kind": archive.kind, "sha256": archive.sha256})


def archive_delete(*, tenant: Any, actor: Any, archive: Archive, request: Any = None) -> None:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    if archive.status == ArchiveStatus.PENDING:
        raise Conflict("archive_pending", _("The archive is still being written."))
    archive_file_remove(archive, strict=True)
    platform.audit(tenant=tenant, actor=actor, action="archive.delete", target=archive,
                   request=request, metadata={"kind": archive.kind})
    archive.delete()


# --- restore -------------------------------------------------------------------------------


def store_upload(*, tenant: Any, chunks: Any) -> str:
    """Keep an uploaded backup under the tenant's directory; returns its upload id. (The
    API's body limit, ``DATA_UPLOAD_MAX_MEMORY_SIZE``, bounds its size.)"""
    upload_id = uuid.uuid4().hex
    path = upload_path(tenant, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return upload_id


def _refuse(exc: fmt.ArchiveError) -> AppError:
    return ValidationFailed(exc.code, exc.message)


def restore_create(*, tenant: Any, actor: Any, name: Any, passphrase: Any,
                   archive: Archive | None = None, upload_id: str | None = None,
                   request: Any = None) -> tuple[Network, Operation]:
    """A new network continuing the chain of a backup: same chain id, genesis and
    validator keys, from the height the backup holds.

    Checked before anything is made: the file is one of our backups, of this tenant, the
    passphrase opens it, the network it came from no longer exists here (two copies of
    one validator key sign conflicting blocks), name and quota. The full check of every
    file's hash runs in the task before any node is made; it deletes the new network
    again if the archive turns out damaged.

    A backup kept in the S3 store is not fetched here: its manifest and passphrase check
    are read from the object's first kilobytes (``S3Store.read_head``), and the task
    downloads the whole object (checked against the size and SHA-256 recorded when it was
    made) as its first step, with progress. A wrong name or passphrase costs no download,
    and a client that gives up waiting changes nothing."""
    try:
        return _restore_create(tenant=tenant, actor=actor, name=name, passphrase=passphrase,
                               archive=archive, upload_id=upload_id, request=request)
    except BaseException:
        # A refused upload is not kept, whatever refused it (an unexpected error too).
        if upload_id:
            upload_path(tenant, upload_id).unlink(missing_ok=True)
        raise


def _restore_create(*, tenant: Any, actor: Any, name: Any, passphrase: Any,
                    archive: Archive | None, upload_id: str | None,
                    request: Any) -> tuple[Network, Operation]:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    check_passphrase(passphrase)
    head: dict[str, bytes] | None = None  # an S3-kept backup's leading members
    stored = ""  # the id of an S3-kept backup the task fetches
    if archive is not None:
        if archive.kind != ArchiveKind.BACKUP or archive.status != ArchiveStatus.READY:
            raise Conflict("archive_not_restorable",
                           _("Only a finished backup can be restored (not an export)."))
        path = archive_path(archive)
        if archive.store == store.S3:
            manifest, head = read_stored_head(archive=archive)
            stored = str(archive.pk)
            # Where the task puts the object it fetches (removed when the restore ends).
            path = upload_path(tenant, uuid.uuid4().hex)
    elif upload_id:
        path = upload_path(tenant, upload_id)
    else:
        raise ValidationFailed("archive_missing", _("Name a backup or upload one."))
    if head is None:
        try:
            if not path.is_file():
                raise fmt.ArchiveError("archive_corrupt", _("The backup file is missing."))
            manifest = fmt.read_manifest(path)
        except fmt.ArchiveError as exc:
            raise _refuse(exc) from None
    # Whose backup, before any key derivation: another organisation's file costs no CPU.
    if manifest["tenant_id"] != str(tenant.pk) or manifest.get("install_id", homes.install_id()) \
            != homes.install_id():
        raise ValidationFailed("archive_foreign",
                               _("This backup belongs to another organisation."))
    nodes = manifest["nodes"]
    spec = NetworkSpec(name=name, validators=len(nodes),
                       driver=str(manifest.get("driver") or "local"))
    _validate_spec(spec)
    if spec.driver not in COPYING_DRIVERS:
        raise Conflict("archives_not_supported",
                       _("Export, backup and restore are not supported on the %(driver)s "
                         "driver yet.") % {"driver": spec.driver})
    if platform.approval_required(tenant):
        # An approved request provisions a fresh network; nothing would run the restore.
        raise Conflict("restore_needs_approval",
                       _("New networks of your organisation need platform approval; ask "
                         "the platform's staff to restore this backup."))
    try:
        if head is not None:
            fmt.check_head(head, passphrase)
        else:
            fmt.check_passphrase(path, passphrase)
    except fmt.ArchiveError as exc:
        raise _refuse(exc) from None
    chain_id = manifest["chain_id"]
    with transaction.atomic():
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).first()
        _check_quota(tenant=tenant, spec=spec)
        holder = Network.objects.select_for_update().filter(chain_id=chain_id).first()
        if holder is not None and holder.tenant_id != tenant.pk:
            # Another organisation's chain (live or deleted): say nothing about it, and
            # never move its chain id aside.
            raise Conflict("chain_id_taken",
                           _("This backup's chain cannot be restored here."))
        if holder is not None and holder.status != NetworkStatus.DELETED:
            code = "source_network_running" if holder.status in NETWORK_LIVE | NETWORK_BUSY \
                else "source_network_exists"
            raise Conflict(code, _(
                "The network this backup was made of (%(name)s) still exists; delete it "
                "first: two networks with the same validator keys would sign conflicting "
                "blocks.") % {"name": holder.name}, details={"network": str(holder.pk)})
        if holder is not None:
            # A deleted network keeps its row; its chain id moves aside for the new one.
            holder.chain_id = f"{chain_id[:41]}~{secrets.token_hex(4)}"
            holder.save(update_fields=["chain_id", "updated_at"])
        if Network.objects.filter(tenant=tenant, name=spec.name).visible().exists():
            raise Conflict("network_name_taken",
                           _("You already have a network called '%(name)s'.")
                           % {"name": spec.name}, details={"name": spec.name})
        network = Network.objects.create(
            tenant=tenant, name=spec.name, chain_id=chain_id, validator_count=len(nodes),
            driver=spec.driver, public_access=bool(manifest.get("public_access")),
            desired_state=DesiredState.RUNNING,
            created_by=actor if getattr(actor, "pk", None) else None,
            engine_version=getattr(settings, "COMETBFT_VERSION", "0.38.26"),
            ledger_version=manifest.get("ledger_version") or "",
            status=NetworkStatus.REQUESTED)
        op = operation_create(tenant=tenant, actor=actor, kind=NETWORK_RESTORE,
                              target=("deploy.network", network.pk), deadline=DEADLINE,
                              params={"archive": str(archive.pk) if archive else "",
                                      "height": manifest.get("height")})
        platform.audit(tenant=tenant, actor=actor, action=NETWORK_RESTORE, target=network,
                       request=request, metadata={"archive": str(archive.pk) if archive
                                                  else "upload", "chain_id": chain_id,
                                                  "height": manifest.get("height")})
        enqueue_after_commit(tasks.restore_task, str(network.pk), op.pk, str(path),
                             crypto.seal(passphrase.encode()).decode(),
                             bool(upload_id or stored),
                             **({"stored_archive": stored} if stored else {}))
    return network, op


def archive_stream(*, archive: Archive) -> tuple[Any, int]:
    """An S3-kept archive's bytes for a download, and its size."""
    try:
        bucket = store.s3()
        return bucket.stream(store.archive_key(bucket, archive))
    except store.StoreError as exc:
        raise store_error(exc) from None


def read_stored_head(*, archive: Archive) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and passphrase check of a backup kept in the S3 store, read from the
    object's first kilobytes (see ``restore_create``)."""
    try:
        bucket = store.s3()
        return bucket.read_head(store.archive_key(bucket, archive))
    except store.StoreError as exc:
        raise store_error(exc) from None
    except fmt.ArchiveError as exc:
        raise _refuse(exc) from None


# --- schedules -----------------------------------------------------------------------------


def schedule_set(*, tenant: Any, actor: Any, network: Network, enabled: bool,
                 interval_hours: int, keep: int, passphrase: Any = None,
                 request: Any = None) -> BackupSchedule:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, network)
    # What a backup would refuse anyway, refused when the schedule is set, not silently at
    # every turn.
    if network.driver not in COPYING_DRIVERS:
        raise Conflict("archives_not_supported",
                       _("Export, backup and restore are not supported on the %(driver)s "
                         "driver yet.") % {"driver": network.driver})
    if network.status == NetworkStatus.DELETED:
        raise Conflict("network_busy", _("The network is deleted."))
    if network.nodes.exclude(status=NodeStatus.DELETED).exclude(
            tenant_id=network.tenant_id).exists():
        raise Conflict("network_has_member_validators",
                       _("Validators of this network are run by other organisations; their "
                         "keys are not yours to copy."))
    if not 1 <= int(interval_hours) <= 24 * 30:
        raise ValidationFailed("invalid_schedule",
                               _("A backup interval is 1 to 720 hours."))
    if not 1 <= int(keep) <= 100:
        raise ValidationFailed("invalid_schedule", _("Keep 1 to 100 scheduled backups."))
    current = BackupSchedule.objects.filter(network=network).first()
    if passphrase is None and current is None:
        raise ValidationFailed("weak_passphrase",
                               _("A new schedule needs the passphrase its backups are "
                                 "sealed with."))
    now = timezone.now()
    values: dict[str, Any] = {"tenant": tenant, "enabled": bool(enabled),
                              "interval_hours": int(interval_hours), "keep": int(keep),
                              "next_run_at": now + timedelta(hours=int(interval_hours))}
    if passphrase is not None:
        values["sealed_passphrase"] = crypto.seal(check_passphrase(passphrase).encode())
    schedule, _created = BackupSchedule.objects.update_or_create(network=network,
                                                                 defaults=values)
    platform.audit(tenant=tenant, actor=actor, action="backup.schedule", target=network,
                   request=request, metadata={"enabled": bool(enabled),
                                              "interval_hours": int(interval_hours),
                                              "keep": int(keep)})
    return schedule


def backups_due(now: Any = None) -> list[str]:
    """Start the scheduled backups that are due; prune old scheduled ones. Returns the
    archive ids started. A network that is not running is skipped until its next turn."""
    now = now or timezone.now()
    started = []
    for schedule in BackupSchedule.objects.filter(enabled=True, next_run_at__lte=now) \
            .select_related("network", "tenant"):
        if not _claim(schedule, now):
            continue
        try:
            archive, _op = backup_create(
                tenant=schedule.tenant, actor=None, network=schedule.network,
                passphrase=crypto.unseal(bytes(schedule.sealed_passphrase)).decode(),
                scheduled=True)
        except AppError:
            continue  # stopped, busy: the next turn tries again
        started.append(str(archive.pk))
    return started


def prune_scheduled(network_id: Any) -> None:
    """Keep the newest ``keep`` finished scheduled backups of a network, and no failed
    scheduled rows older than the newest finished one. Run when a scheduled backup is
    ready, so the count is ``keep`` after it, not one more."""
    schedule = BackupSchedule.objects.filter(network_id=network_id).first()
    if schedule is None:
        return
    ready = Archive.objects.filter(network_id=network_id, scheduled=True,
                                   status=ArchiveStatus.READY)
    gone = list(ready[schedule.keep:])
    newest = ready.first()
    if newest is not None:
        gone += Archive.objects.filter(network_id=network_id, scheduled=True,
                                       status=ArchiveStatus.FAILED,
                                       created_at__lt=newest.created_at)
    for old in gone:
        _delete_strictly(old)  # a row whose file stays in the store stays too


def archives_sweep(now: Any = None) -> int:
    """Files nobody will use any more: exports past ``BAAS_EXPORT_TTL_HOURS`` (every key
    in clear), uploads and staging folders older than any restore, export or backup can
    run (a worker that died left them, with keys in clear in staging), and objects runs
    uploaded to the S3 store that no archive names (``_sweep_run_objects``). Returns how
    many went."""
    now = now or timezone.now()
    count = 0
    ttl = int(settings.BAAS_EXPORT_TTL_HOURS)
    if ttl > 0:
        for old in Archive.objects.filter(kind=ArchiveKind.EXPORT,
                                          created_at__lt=now - timedelta(hours=ttl)).exclude(
                status=ArchiveStatus.PENDING):
            if _delete_strictly(old):
                count += 1
    count += _sweep_run_objects(before=now - DEADLINE - timedelta(hours=1))
    cutoff = (now - DEADLINE - timedelta(hours=1)).timestamp()
    root = backup_dir()
    # Files one run writes before renaming them into place (``workflows.PART``).
    leftovers = [*root.glob("*/uploads/*"), *root.glob(".staging/*"), *root.glob("*/*.part")]
    for path in leftovers:
        try:
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            count += 1
        except OSError:
            continue  # gone meanwhile, or not ours to remove: the next sweep tries again
    return count


# An object one run of an export or backup uploaded (``S3Store.run_key``), under the prefix.
_RUN_OBJECT = re.compile(r"^[^/]+/[0-9a-f-]{36}\.[0-9a-f]+\.tar\.gz$")


def _sweep_run_objects(*, before: Any) -> int:
    """Objects runs uploaded that no archive row names, stored before ``before`` (longer
    ago than any run can go on): a worker that died between its upload and making the
    archive ready, a run that could not remove its object (the store did not answer).
    Only keys of a run's form are looked at, never an archive's older key (``S3Store.key``)
    nor anything else in the bucket. Not strict: a store that cannot be reached is logged
    and the next sweep tries again. Returns how many went."""
    if store.configured() != store.S3 and not Archive.objects.filter(
            store=store.S3).exists():
        return 0
    try:
        bucket = store.s3()
        listing = bucket.listing()
    except store.StoreError as exc:
        log.warning("the sweep did not list the backup store (%s)", exc.reason)
        return 0
    old = [key for key, stored in listing
           if key.startswith(bucket.prefix) and _RUN_OBJECT.match(key[len(bucket.prefix):])
           and stored is not None and stored < before]
    named: set[str] = set()
    for start in range(0, len(old), 500):  # bounded queries: databases cap parameters
        named.update(Archive.objects.filter(object_key__in=old[start:start + 500])
                     .values_list("object_key", flat=True))
    count = 0
    for key in old:
        if key in named:
            continue
        try:
            bucket.delete(key)
        except store.StoreError as exc:
            if exc.code != "archive_object_missing":
                log.warning("the sweep did not remove %s (%s)", key, exc.reason)
            continue
        count += 1
    return count


def _claim(schedule: BackupSchedule, now: Any) -> bool:
    """Move the schedule to its next turn if nobody did since it was read: only the run
    that moves it starts the backup, so two beats (or a retried task) reading the same due
    schedule never start two backups of one turn."""
    return bool(BackupSchedule.objects.filter(
        pk=schedule.pk, next_run_at=schedule.next_run_at).update(
        next_run_at=now + timedelta(hours=schedule.interval_hours), last_run_at=now))


def archives_reap() -> int:
    """Pending archives whose operation ended without them (a worker died, the reaper
    failed the operation at its deadline) become failed. Returns how many."""
    pending = [str(pk) for pk in Archive.objects.filter(
        status=ArchiveStatus.PENDING).values_list("pk", flat=True)]
    if not pending:
        return 0
    ended = Operation.objects.filter(
        target_type="archives.archive", kind__in=[NETWORK_EXPORT, NETWORK_BACKUP],
        target_id__in=pending).exclude(state__in=ACTIVE).values_list("target_id", flat=True)
    stale = Archive.objects.filter(status=ArchiveStatus.PENDING,
                                   pk__in=[pk for pk in ended if _is_uuid(pk)])
    return stale.update(status=ArchiveStatus.FAILED, error_code="deadline_exceeded",
                        finished_at=timezone.now())


def copy_stalled(op: Operation) -> None:
    """Fail a copy that stopped reporting, and its archive, so its network is free again."""
    from baas.errors import InvalidTransition
    from baas.operations import operation_transition

    try:
        operation_transition(operation_id=op.pk, to="failed", error_code="copy_stalled",
                             error_message="The copy stopped reporting; it was abandoned. "
                                           "Ask for the export or backup again.")
    except InvalidTransition:
        return  # it ended meanwhile
    if _is_uuid(op.target_id):
        Archive.objects.filter(pk=op.target_id, status=ArchiveStatus.PENDING).update(
            status=ArchiveStatus.FAILED, error_code="copy_stalled",
            finished_at=timezone.now())


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
