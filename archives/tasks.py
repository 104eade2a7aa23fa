"""Celery tasks of archives: shims that run a workflow in the operation runner."""

from __future__ import annotations

from celery import shared_task

from archives import workflows
from baas.runner import run_operation
from deploy import conf

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


def _stale() -> float:
    return float(conf.setting("DEPLOY_STALL_S"))


@shared_task(name="archives.export", **TASK_OPTIONS)
def export_task(archive_id: str, operation_id: int | None = None) -> None:
    run_operation(operation_id, lambda run: workflows.export(run, archive_id),
                  on_failure=workflows.archive_failed(archive_id), stale_after_s=_stale(),
                  label=f"export {archive_id}")


@shared_task(name="archives.backup", **TASK_OPTIONS)
def backup_task(archive_id: str, operation_id: int | None = None, *,
                sealed_passphrase: str) -> None:
    run_operation(operation_id,
                  lambda run: workflows.backup(run, archive_id, sealed_passphrase),
                  on_failure=workflows.archive_failed(archive_id), stale_after_s=_stale(),
                  label=f"backup {archive_id}")


@shared_task(name="archives.restore", **TASK_OPTIONS)
def restore_task(network_id: str, operation_id: int | None, archive_file: str,
                 sealed_passphrase: str, uploaded: bool, *, stored_archive: str = "") -> None:
    run_operation(operation_id,
                  lambda run: workflows.restore(run, network_id, archive_file,
                                                sealed_passphrase, uploaded,
                                                stored_archive=stored_archive),
                  on_failure=workflows.restore_failed(network_id, archive_file, uploaded),
                  stale_after_s=_stale(), label=f"restore {network_id}")


@shared_task(name="archives.backups_due")
def backups_due_task() -> int:
    from archives.services import archives_reap, archives_sweep, backups_due

    archives_reap()
    archives_sweep()
    return len(backups_due())
