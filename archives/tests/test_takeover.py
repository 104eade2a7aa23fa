"""Runs of one export, backup or restore that overlap: a run taken for stalled goes on
while the run that took its operation over (or the reconciler, or a user deleting the
archive) acts on the same archive. The stale run must neither publish nor remove what is
now another's, and what nobody will use must not stay on disk. The S3 cases are in
test_s3.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from archives import fmt, services, tasks, workflows
from archives.models import Archive
from archives.tests.helpers import fake_home
from baas.models import Operation
from baas.runner import claim
from deploy import crypto
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory

pytestmark = pytest.mark.django_db
PASS = "a long passphrase"


@pytest.fixture
def setup(settings, tmp_path, monkeypatch):
    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    settings.BAAS_BACKUP_STORE = "local"
    crypto.reset_cache()
    queued: list = []
    monkeypatch.setattr("archives.services.enqueue_after_commit",
                        lambda task, *a, **k: queued.append((task, a, k)))
    monkeypatch.setattr(workflows, "copy_nodes", lambda run, net, into, **k: [
        fmt.BackupNode(index=0, moniker="n-0", home=fake_home(into, 0), height=7)])
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant, status="running")
    NodeFactory(network=network, index=0)
    yield owner, network, queued
    crypto.reset_cache()


def _backup(setup):
    owner, network, queued = setup
    archive, op = services.backup_create(tenant=owner.tenant, actor=owner.user,
                                         network=network, passphrase=PASS)
    task, args, kwargs = queued.pop()
    assert task is tasks.backup_task
    return archive, op, lambda: task(*args, **kwargs), kwargs["sealed_passphrase"]


def _tenant_files(archive: Archive) -> list[Path]:
    folder = services.archive_path(archive).parent
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _while_writing(monkeypatch, during):
    """Call ``during()`` once, while the (first) run writes its archive, before its bytes
    are written."""
    real = fmt.build_backup
    calls = []

    def build_backup(**kwargs):
        if not calls:
            calls.append(1)
            during()
        return real(**kwargs)

    monkeypatch.setattr(fmt, "build_backup", build_backup)


def test_an_archive_failed_and_deleted_while_written_leaves_no_file(setup, monkeypatch):
    """The reconciler failed the copy (copy_stalled) and the user deleted the failed
    archive while the run was still writing it: the file the run then finishes has no row
    naming it, and must not stay (an export's holds every key in clear)."""
    archive, op, run_task, _sealed = _backup(setup)

    def stalled_and_deleted():
        services.copy_stalled(Operation.objects.get(pk=op.pk))
        Archive.objects.get(pk=archive.pk).delete()

    _while_writing(monkeypatch, stalled_and_deleted)
    run_task()
    assert not Archive.objects.filter(pk=archive.pk).exists()
    assert _tenant_files(archive) == []
    op.refresh_from_db()
    assert op.state == "failed" and op.error_code == "copy_stalled"


def test_a_run_taken_over_does_not_make_the_archive_ready(setup, monkeypatch):
    """A newer run took the operation over while the stale one wrote: the stale run's end
    leaves the archive pending and writes nothing where the archive's file goes; the newer
    run then makes it ready with its own file."""
    archive, op, run_task, sealed = _backup(setup)
    newer = []
    _while_writing(monkeypatch, lambda: newer.append(claim(op.pk, stale_after_s=0)))
    run_task()
    archive.refresh_from_db()
    assert archive.status == "pending"
    assert _tenant_files(archive) == []  # neither the final file nor the stale run's own
    op.refresh_from_db()
    assert op.state == "running" and op.claim == newer[0].claim

    workflows.backup(newer[0], str(archive.pk), sealed)
    archive.refresh_from_db()
    op.refresh_from_db()
    assert archive.status == "ready" and op.state == "succeeded"
    path = services.archive_path(archive)
    assert _tenant_files(archive) == [path]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == archive.sha256


def test_a_stale_run_never_overwrites_or_removes_the_newer_runs_file(setup, monkeypatch):
    """The newer run finished the archive while the stale run was still writing its own
    copy: the ready archive keeps the newer run's file, whole, with its SHA-256."""
    archive, op, run_task, sealed = _backup(setup)

    def newer_run_finishes():
        workflows.backup(claim(op.pk, stale_after_s=0), str(archive.pk), sealed)

    _while_writing(monkeypatch, newer_run_finishes)
    run_task()
    archive.refresh_from_db()
    op.refresh_from_db()
    assert archive.status == "ready" and op.state == "succeeded"
    path = services.archive_path(archive)
    assert _tenant_files(archive) == [path]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == archive.sha256
    assert path.stat().st_size == archive.size


def test_a_run_taking_over_a_ready_archive_ends_without_copying(setup, monkeypatch):
    """The stale run made the archive ready and died before ending its operation: the run
    that takes it over ends the operation and copies nothing (no validator stops again,
    the ready file stays)."""
    archive, op, run_task, sealed = _backup(setup)
    Archive.objects.filter(pk=archive.pk).update(status="ready", size=3, height=7)
    path = services.archive_path(archive)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"old")

    def no_copy(*args, **kwargs):
        raise AssertionError("copied again")

    monkeypatch.setattr(workflows, "copy_nodes", no_copy)
    run_task()
    op.refresh_from_db()
    assert op.state == "succeeded"
    assert path.read_bytes() == b"old"


def test_a_failed_restore_removes_what_stopped_downloads_left(settings, tmp_path):
    """A run that died while it downloaded a stored backup left its own file next to the
    restore's: the failure policy removes both."""
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    network = NetworkFactory(status="provisioning")
    upload = services.upload_path(network.tenant, "abc")
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"x")
    part = upload.with_name(f"{upload.name}.0123456789abcdef.part")
    part.write_bytes(b"half")
    other = upload.with_name("other.tar.gz")
    other.write_bytes(b"another restore's")
    workflows.restore_failed(str(network.pk), str(upload), True)("archive_corrupt", "bad")
    assert sorted(upload.parent.iterdir()) == [other]
