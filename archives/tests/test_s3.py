"""The S3-compatible backup store against a real S3 server over loopback HTTP (moto's
standalone server, started by the ``s3_server`` fixture): uploads by the backup task,
restores that stream the object back and check its SHA-256, downloads, deletes, and the
errors when the object is missing or damaged, the bucket does not exist or the endpoint
does not answer. The end-to-end backup and restore of a real network through S3 is in
test_network.py."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import uuid
from pathlib import Path

import pytest

from archives import fmt, store, tasks, workflows
from archives.models import Archive
from archives.tests.helpers import fake_home, make_backup
from baas.testing import api_client_for
from deploy.models import Network
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.s3]
PASS = "a long passphrase"


def s3_configure(settings, tmp_path: Path, endpoint: str) -> str:
    """Point the platform at a fresh bucket of the test server; returns the bucket name.
    The credentials go through files, as in production."""
    from minio import Minio

    bucket = f"baas-{uuid.uuid4().hex[:12]}"
    Minio(endpoint.split("://")[1], access_key="testing", secret_key="testing",
          secure=False).make_bucket(bucket)
    (tmp_path / "s3-access").write_text("testing\n")
    (tmp_path / "s3-secret").write_text("testing\n")
    settings.BAAS_BACKUP_STORE = "s3"
    settings.BAAS_BACKUP_S3_ENDPOINT = endpoint
    settings.BAAS_BACKUP_S3_BUCKET = bucket
    settings.BAAS_BACKUP_S3_PREFIX = "test/"
    settings.BAAS_BACKUP_S3_ACCESS_KEY = (tmp_path / "s3-access").read_text().strip()
    settings.BAAS_BACKUP_S3_SECRET_KEY = (tmp_path / "s3-secret").read_text().strip()
    settings.BAAS_BACKUP_S3_TIMEOUT_S = 5
    return bucket


@pytest.fixture
def setup(settings, tmp_path, monkeypatch, s3_server):
    from deploy import crypto

    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    crypto.reset_cache()
    s3_configure(settings, tmp_path, s3_server)
    queued: list = []
    monkeypatch.setattr("archives.services.enqueue_after_commit",
                        lambda task, *a, **k: queued.append((task, a, k)))
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant, status="running")
    NodeFactory(network=network, index=0)
    yield owner, network, queued
    crypto.reset_cache()


def _objects() -> dict[str, bytes]:
    bucket = store.s3()
    out = {}
    for obj in bucket.client.list_objects(bucket.bucket, recursive=True):
        response = bucket.client.get_object(bucket.bucket, obj.object_name)
        out[obj.object_name] = response.read()
        response.close()
        response.release_conn()
    return out


def _stored_backup(owner, network, tmp_path) -> Archive:
    """A backup of ``network`` uploaded to the bucket as the backup task would."""
    local = tmp_path / "made.tar.gz"
    make_backup(local, tenant_id=str(owner.tenant.pk), chain_id=network.chain_id)
    data = local.read_bytes()
    archive = Archive.objects.create(
        tenant=owner.tenant, network=network, kind="backup", status="ready",
        network_name=network.name, chain_id=network.chain_id, store="s3", size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), height=7)
    bucket = store.s3()
    bucket.put_file(bucket.key(owner.tenant_id, archive.pk), local, size=len(data),
                    sha256=archive.sha256)
    return archive


def _fake_copies(monkeypatch):
    def copy_nodes(run, network, into, *, start, end):
        return [fmt.BackupNode(index=0, moniker="n-0", home=fake_home(into, 0), height=7)]

    monkeypatch.setattr(workflows, "copy_nodes", copy_nodes)


def _run_backup(client, network, queued) -> tuple[Archive, dict]:
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": PASS},
                      format="json")
    assert res.status_code == 202, res.content
    task, args, kwargs = queued.pop()
    assert task is tasks.backup_task
    task(*args, **kwargs)
    op = client.get(f"/api/v1/operations/{res.json()['operation']['id']}/").json()
    return Archive.objects.get(pk=res.json()["archive"]["id"]), op


def test_the_backup_task_uploads_and_the_download_streams_it_back(setup, monkeypatch):
    owner, network, queued = setup
    _fake_copies(monkeypatch)
    client = api_client_for(owner.user)
    archive, op = _run_backup(client, network, queued)
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    assert archive.status == "ready" and archive.store == "s3"
    objects = _objects()
    # The key of the run that made it ready, recorded on the row.
    key = archive.object_key
    assert re.fullmatch(rf"test/{owner.tenant_id}/{archive.pk}\.[0-9a-f]{{16}}\.tar\.gz", key)
    assert list(objects) == [key]
    assert hashlib.sha256(objects[key]).hexdigest() == archive.sha256
    assert len(objects[key]) == archive.size
    stat = store.s3().client.stat_object(store.s3().bucket, key)
    assert stat.metadata.get("x-amz-meta-sha256") == archive.sha256
    # Nothing of it stays on the local disk: only the bucket holds it.
    assert not any(p.is_file() for p in Path(str(store.settings.BAAS_BACKUP_DIR)).rglob("*"))

    download = client.get(f"/api/v1/archives/{archive.pk}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == objects[key]
    assert download["Content-Length"] == str(archive.size)

    res = client.delete(f"/api/v1/archives/{archive.pk}/")
    assert res.status_code == 204
    assert _objects() == {}


def test_a_failed_upload_leaves_no_ready_backup_and_no_object(setup, monkeypatch, settings):
    owner, network, queued = setup
    _fake_copies(monkeypatch)
    client = api_client_for(owner.user)
    real_bucket = settings.BAAS_BACKUP_S3_BUCKET
    settings.BAAS_BACKUP_S3_BUCKET = "no-such-bucket-here"
    archive, op = _run_backup(client, network, queued)
    assert op["state"] == "failed" and op["error_code"] == "backup_store_unavailable"
    assert archive.status == "failed" and archive.error_code == "backup_store_unavailable"
    settings.BAAS_BACKUP_S3_BUCKET = real_bucket
    assert _objects() == {}
    listed = client.get("/api/v1/archives/").json()
    assert [a["status"] for a in listed] == ["failed"]
    # ... and no local file claims to be it either.
    assert not any(p.is_file() for p in Path(str(settings.BAAS_BACKUP_DIR)).rglob("*"))


def test_a_restore_streams_the_object_back_and_checks_its_hash(setup, tmp_path):
    """The request reads only the object's head (manifest, passphrase check); the task
    fetches the whole object, checked against the recorded SHA-256, as its first step."""
    from baas.runner import Run

    owner, network, queued = setup
    archive = _stored_backup(owner, network, tmp_path)
    Network.objects.filter(pk=network.pk).update(status="deleted")
    client = api_client_for(owner.user)
    res = client.post("/api/v1/restores/", {"backup": str(archive.pk), "name": "again",
                                            "passphrase": PASS}, format="json")
    assert res.status_code == 202, res.content
    task, args, kwargs = queued.pop()
    assert task is tasks.restore_task
    path, uploaded = Path(args[2]), args[4]
    assert kwargs == {"stored_archive": str(archive.pk)}
    assert uploaded is True and not path.exists()  # nothing fetched by the request
    workflows.fetch_stored(Run(None), str(archive.pk), path)
    # The task's local copy (removed after it), byte for byte the uploaded backup.
    assert hashlib.sha256(path.read_bytes()).hexdigest() == archive.sha256


def test_a_refused_restore_downloads_nothing(setup, tmp_path, monkeypatch):
    """A wrong passphrase, a taken name or a running source network are refused from the
    object's head: the whole archive is never fetched by the request."""
    owner, network, queued = setup
    archive = _stored_backup(owner, network, tmp_path)

    def no_fetch(*args, **kwargs):
        raise AssertionError("the request fetched the whole archive")

    monkeypatch.setattr(store.S3Store, "fetch_to", no_fetch)
    client = api_client_for(owner.user)
    error = _refused(client, archive)  # its network still runs
    assert error["code"] == "source_network_running", error
    Network.objects.filter(pk=network.pk).update(status="deleted")
    res = client.post("/api/v1/restores/", {"backup": str(archive.pk), "name": "again",
                                            "passphrase": "not the passphrase"},
                      format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "wrong_passphrase"
    NetworkFactory(tenant=owner.tenant, name="taken")
    res = client.post("/api/v1/restores/", {"backup": str(archive.pk), "name": "taken",
                                            "passphrase": PASS}, format="json")
    assert res.status_code == 409 and res.json()["error"]["code"] == "network_name_taken"
    assert _no_uploads(store.settings) and queued == []


def _refused(client, archive) -> dict:
    before = Network.objects.count()
    res = client.post("/api/v1/restores/", {"backup": str(archive.pk), "name": "again",
                                            "passphrase": PASS}, format="json")
    assert Network.objects.count() == before
    return {"status": res.status_code, **res.json()["error"]}


def _no_uploads(settings) -> bool:
    return not any(Path(str(settings.BAAS_BACKUP_DIR)).rglob("uploads/*"))


def _fetched_by_the_task(client, archive, queued):
    """Start a restore of ``archive`` and run its task's first step (the fetch)."""
    from baas.runner import Run, StepFailed

    res = client.post("/api/v1/restores/", {"backup": str(archive.pk), "name": "again",
                                            "passphrase": PASS}, format="json")
    assert res.status_code == 202, res.content
    _task, args, kwargs = queued.pop()
    Network.objects.filter(pk=res.json()["network"]["id"]).update(status="deleted")
    with pytest.raises(StepFailed) as err:
        workflows.fetch_stored(Run(None), kwargs["stored_archive"], Path(args[2]))
    assert not Path(args[2]).exists()
    return err.value.code


def test_a_damaged_or_missing_object_is_refused(setup, tmp_path, settings):
    owner, network, queued = setup
    archive = _stored_backup(owner, network, tmp_path)
    Network.objects.filter(pk=network.pk).update(status="deleted")
    client = api_client_for(owner.user)
    bucket = store.s3()
    key = bucket.key(owner.tenant_id, archive.pk)
    original = _objects()[key]

    # One byte changed near the end, same size: the manifest and the passphrase check
    # (the first members) still read, so only the recorded SHA-256 tells, when the task
    # fetches the object.
    damaged = bytearray(original)
    damaged[-20] ^= 0xFF
    bucket.client.put_object(bucket.bucket, key, io.BytesIO(bytes(damaged)), len(damaged))
    assert _fetched_by_the_task(client, archive, queued) == "archive_corrupt"
    # Truncated.
    bucket.client.put_object(bucket.bucket, key, io.BytesIO(original[:-10]),
                             len(original) - 10)
    assert _fetched_by_the_task(client, archive, queued) == "archive_corrupt"
    # Not a backup at all: refused by the request, from its head.
    bucket.client.put_object(bucket.bucket, key, io.BytesIO(b"not gzip" * 100), 800)
    error = _refused(client, archive)
    assert (error["status"], error["code"]) == (400, "archive_corrupt"), error
    # Gone.
    bucket.client.remove_object(bucket.bucket, key)
    error = _refused(client, archive)
    assert (error["status"], error["code"]) == (404, "archive_object_missing"), error
    download = client.get(f"/api/v1/archives/{archive.pk}/download/")
    assert download.status_code == 404
    assert download.json()["error"]["code"] == "archive_object_missing"
    assert _no_uploads(settings) and queued == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_missing_bucket_or_an_unreachable_store_is_a_503(setup, tmp_path, settings):
    owner, network, queued = setup
    archive = _stored_backup(owner, network, tmp_path)
    Network.objects.filter(pk=network.pk).update(status="deleted")
    client = api_client_for(owner.user)
    real_bucket, real_endpoint = settings.BAAS_BACKUP_S3_BUCKET, settings.BAAS_BACKUP_S3_ENDPOINT

    settings.BAAS_BACKUP_S3_BUCKET = "no-such-bucket-here"
    error = _refused(client, archive)
    assert (error["status"], error["code"]) == (503, "backup_store_unavailable"), error
    assert error["details"]["reason"] == "no_such_bucket"

    settings.BAAS_BACKUP_S3_BUCKET = real_bucket
    settings.BAAS_BACKUP_S3_ENDPOINT = f"http://127.0.0.1:{_closed_port()}"
    error = _refused(client, archive)
    assert (error["status"], error["code"]) == (503, "backup_store_unavailable"), error
    assert error["details"]["reason"] == "unreachable"
    download = client.get(f"/api/v1/archives/{archive.pk}/download/")
    assert download.status_code == 503
    # A delete that cannot reach the store keeps the row (it still names the object).
    res = client.delete(f"/api/v1/archives/{archive.pk}/")
    assert res.status_code == 503 and Archive.objects.filter(pk=archive.pk).exists()
    assert _no_uploads(settings) and queued == []

    settings.BAAS_BACKUP_S3_ENDPOINT = real_endpoint
    assert store.s3().exists(store.s3().key(owner.tenant_id, archive.pk))


def test_a_long_upload_beats_as_its_parts_go(setup, tmp_path, settings):
    """minio's progress hook is the operation's heartbeat: an upload of many parts is
    not taken for a stalled copy."""
    settings.BAAS_BACKUP_S3_PART_MB = 5
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (11 * 2**20))  # three parts of 5 MiB at most
    beats: list[int] = []
    bucket = store.s3()
    bucket.put_file("test/big", big, size=big.stat().st_size, sha256="x",
                    beat=lambda: beats.append(1))
    assert len(beats) >= 3
    assert bucket.exists("test/big")


def test_an_archive_failed_during_its_upload_stays_failed_and_its_object_goes(
        setup, monkeypatch):
    """The reconciler failed the copy (copy_stalled) while the upload went on: the end of
    the upload must not make the row ready again, and the object it left goes."""
    from archives import services

    owner, network, queued = setup
    _fake_copies(monkeypatch)
    real_put = store.S3Store.put_file

    def put_then_stalled(self, key, path, **kwargs):
        real_put(self, key, path, **kwargs)
        archive = Archive.objects.get(status="pending")
        from baas.models import Operation

        services.copy_stalled(Operation.objects.get(target_id=str(archive.pk)))

    monkeypatch.setattr(store.S3Store, "put_file", put_then_stalled)
    client = api_client_for(owner.user)
    archive, op = _run_backup(client, network, queued)
    assert archive.status == "failed" and archive.error_code == "copy_stalled"
    assert op["state"] == "failed"
    assert _objects() == {}


def test_an_archive_too_large_for_the_part_size_says_so(setup, tmp_path, settings):
    settings.BAAS_BACKUP_S3_PART_MB = 5
    small = tmp_path / "small.bin"
    small.write_bytes(b"x")
    with pytest.raises(store.StoreError) as err:
        # Its declared size needs more than 10,000 parts of 5 MiB.
        store.s3().put_file("test/huge", small, size=5 * 2**20 * 10_000 + 1, sha256="x")
    assert err.value.code == "backup_too_large"
    assert "BAAS_BACKUP_S3_PART_MB" in err.value.message


def test_an_archive_failed_and_deleted_during_its_upload_leaves_no_object(setup, monkeypatch):
    """As above, and the user deleted the failed archive before the upload ended: the
    object the upload then completes has no row naming it, and must not stay."""
    from archives import services
    from baas.models import Operation

    owner, network, queued = setup
    _fake_copies(monkeypatch)
    real_put = store.S3Store.put_file

    def stalled_and_deleted_then_put(self, key, path, **kwargs):
        archive = Archive.objects.get(status="pending")
        services.copy_stalled(Operation.objects.get(target_id=str(archive.pk)))
        Archive.objects.get(pk=archive.pk).delete()  # nothing to remove yet
        real_put(self, key, path, **kwargs)

    monkeypatch.setattr(store.S3Store, "put_file", stalled_and_deleted_then_put)
    client = api_client_for(owner.user)
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": PASS},
                      format="json")
    assert res.status_code == 202, res.content
    task, args, kwargs = queued.pop()
    task(*args, **kwargs)
    assert not Archive.objects.exists()
    assert _objects() == {}
    assert not any(p.is_file() for p in Path(str(store.settings.BAAS_BACKUP_DIR)).rglob("*"))


def test_a_run_taken_over_during_its_upload_does_not_make_the_archive_ready(setup,
                                                                           monkeypatch):
    """The operation was taken over (its run thought stalled) while the upload went on:
    the stale run's end leaves the archive pending and its object to the newer run, which
    makes the archive ready with an object of its own SHA-256."""
    from baas.models import Operation
    from baas.runner import claim

    owner, network, queued = setup
    _fake_copies(monkeypatch)
    real_put = store.S3Store.put_file
    newer = []

    def put_then_taken_over(self, key, path, **kwargs):
        real_put(self, key, path, **kwargs)
        if not newer:
            op = Operation.objects.get(kind="network.backup")
            newer.append(claim(op.pk, stale_after_s=0))

    monkeypatch.setattr(store.S3Store, "put_file", put_then_taken_over)
    client = api_client_for(owner.user)
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": PASS},
                      format="json")
    assert res.status_code == 202, res.content
    task, args, kwargs = queued.pop()
    task(*args, **kwargs)
    archive = Archive.objects.get()
    assert archive.status == "pending"
    op = Operation.objects.get(kind="network.backup")
    assert op.state == "running" and op.claim == newer[0].claim

    workflows.backup(newer[0], str(archive.pk), kwargs["sealed_passphrase"])
    archive.refresh_from_db()
    op.refresh_from_db()
    assert archive.status == "ready" and op.state == "succeeded"
    (data,) = _objects().values()
    assert hashlib.sha256(data).hexdigest() == archive.sha256


def test_a_stale_restore_run_never_touches_the_newer_runs_download(setup, tmp_path,
                                                                  monkeypatch):
    """Two runs of one restore (the first taken for stalled) download the stored backup
    to files of their own: the stale run's failed download removes only its file, never
    the one the newer run fetched and checked; no partial download is left."""
    from baas.runner import StepFailed, claim

    owner, network, queued = setup
    archive = _stored_backup(owner, network, tmp_path)
    Network.objects.filter(pk=network.pk).update(status="deleted")
    client = api_client_for(owner.user)
    res = client.post("/api/v1/restores/", {"backup": str(archive.pk), "name": "again",
                                            "passphrase": PASS}, format="json")
    assert res.status_code == 202, res.content
    _task, args, kwargs = queued.pop()
    dest, op_id = Path(args[2]), res.json()["operation"]["id"]
    stale = claim(op_id)
    real_fetch = store.S3Store.fetch_to

    def newer_run_fetches_first(self, key, path, *, size, sha256, beat=None):
        store.S3Store.fetch_to = real_fetch
        try:
            workflows.fetch_stored(claim(op_id, stale_after_s=0), str(archive.pk), dest)
        finally:
            store.S3Store.fetch_to = newer_run_fetches_first
        # ... then the stale run's own download breaks off (a damaged read).
        real_fetch(self, key, path, size=size, sha256="0" * 64, beat=beat)

    monkeypatch.setattr(store.S3Store, "fetch_to", newer_run_fetches_first)
    with pytest.raises(StepFailed) as err:
        workflows.fetch_stored(stale, str(archive.pk), dest)
    assert err.value.code == "archive_corrupt"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == archive.sha256
    assert list(dest.parent.iterdir()) == [dest]


def test_a_stale_runs_late_upload_never_replaces_the_ready_backup(setup, tmp_path,
                                                                 monkeypatch):
    """Run A was taken for stalled and taken over by run B while A's last part was on its
    way: B uploads and makes the archive ready, then A's upload completes. The ready backup
    is B's object, whole (download and restore check its SHA-256); A's object goes, and
    the row never names it."""
    from baas.models import Operation
    from baas.runner import Run, claim

    owner, network, queued = setup
    _fake_copies(monkeypatch)
    real_put = store.S3Store.put_file
    uploads: list[tuple[str, str]] = []  # (key, sha256) in the order the uploads began

    def newer_run_finishes_during_the_last_part(self, key, path, **kwargs):
        uploads.append((key, kwargs["sha256"]))
        if len(uploads) == 1:  # run A: its last part is on its way when B takes over
            op = Operation.objects.get(kind="network.backup")
            workflows.backup(claim(op.pk, stale_after_s=0), str(op.target_id),
                             sealed[0])
        real_put(self, key, path, **kwargs)  # ... and A's upload completes after B's

    monkeypatch.setattr(store.S3Store, "put_file", newer_run_finishes_during_the_last_part)
    client = api_client_for(owner.user)
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": PASS},
                      format="json")
    assert res.status_code == 202, res.content
    task, args, kwargs = queued.pop()
    sealed = [kwargs["sealed_passphrase"]]
    task(*args, **kwargs)

    (a_key, a_sha), (b_key, b_sha) = uploads
    assert a_sha != b_sha  # two runs, two different files
    archive = Archive.objects.get()
    op = Operation.objects.get(kind="network.backup")
    assert archive.status == "ready" and op.state == "succeeded"
    assert archive.sha256 == b_sha
    download = client.get(f"/api/v1/archives/{archive.pk}/download/")
    assert download.status_code == 200
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == b_sha
    # A restore of it fetches B's backup, its SHA-256 checked.
    fetched = tmp_path / "restore.tar.gz"
    workflows.fetch_stored(Run(None), str(archive.pk), fetched)
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == b_sha
    # The row names B's object, the only one left: A's went when A stopped.
    assert archive.object_key == b_key != a_key
    objects = _objects()
    assert list(objects) == [b_key]
    assert hashlib.sha256(objects[b_key]).hexdigest() == b_sha


def test_a_run_that_loses_its_claim_after_its_upload_removes_its_own_object(setup,
                                                                           monkeypatch):
    """Run A's upload completed, then B took the operation over: A stops without making
    the archive ready, and removes the object it uploaded (nothing would ever name it);
    B then makes the archive ready with an object of its own."""
    from baas.models import Operation
    from baas.runner import claim

    owner, network, queued = setup
    _fake_copies(monkeypatch)
    real_put = store.S3Store.put_file
    newer = []

    def put_then_taken_over(self, key, path, **kwargs):
        real_put(self, key, path, **kwargs)
        if not newer:
            op = Operation.objects.get(kind="network.backup")
            newer.append(claim(op.pk, stale_after_s=0))

    monkeypatch.setattr(store.S3Store, "put_file", put_then_taken_over)
    client = api_client_for(owner.user)
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": PASS},
                      format="json")
    assert res.status_code == 202, res.content
    task, args, kwargs = queued.pop()
    task(*args, **kwargs)
    archive = Archive.objects.get()
    assert archive.status == "pending"
    assert _objects() == {}  # A's upload went with A

    workflows.backup(newer[0], str(archive.pk), kwargs["sealed_passphrase"])
    archive.refresh_from_db()
    assert archive.status == "ready"
    objects = _objects()
    assert list(objects) == [archive.object_key]
    assert hashlib.sha256(objects[archive.object_key]).hexdigest() == archive.sha256


def test_an_archive_made_before_per_run_keys_still_downloads_restores_and_deletes(
        setup, tmp_path, monkeypatch):
    """An archive whose row names no key (made before each run uploaded to a key of its
    own) is read and deleted at its old key, ``<prefix><tenant>/<archive>.tar.gz``, next to
    archives made since; the sweep leaves its object alone."""
    from datetime import timedelta

    from django.utils import timezone

    from archives import services
    from baas.runner import Run

    owner, network, queued = setup
    _fake_copies(monkeypatch)
    client = api_client_for(owner.user)
    newer, op = _run_backup(client, network, queued)
    assert op["state"] == "succeeded" and newer.object_key
    legacy = _stored_backup(owner, network, tmp_path)  # at the old key, as before
    assert Archive.objects.get(pk=legacy.pk).object_key == ""
    old_key = f"test/{owner.tenant_id}/{legacy.pk}.tar.gz"
    assert sorted(_objects()) == sorted([old_key, newer.object_key])
    # Older than any run: the sweep removes only objects of runs that no row names.
    services.archives_sweep(now=timezone.now() + timedelta(hours=4))
    assert sorted(_objects()) == sorted([old_key, newer.object_key])

    download = client.get(f"/api/v1/archives/{legacy.pk}/download/")
    assert download.status_code == 200
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == legacy.sha256
    fetched = tmp_path / "restore.tar.gz"
    workflows.fetch_stored(Run(None), str(legacy.pk), fetched)
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == legacy.sha256
    res = client.delete(f"/api/v1/archives/{legacy.pk}/")
    assert res.status_code == 204
    assert list(_objects()) == [newer.object_key]


def test_the_sweep_removes_old_objects_of_runs_that_no_archive_names(setup, monkeypatch):
    """A worker that died between its upload and making the archive ready leaves an
    object under its run's key: the sweep removes it once it is older than any run can
    go on, and leaves every object a row names, the old keys and anything else."""
    from datetime import timedelta

    from django.utils import timezone

    from archives import services

    owner, network, queued = setup
    _fake_copies(monkeypatch)
    client = api_client_for(owner.user)
    ready, _op = _run_backup(client, network, queued)
    (of_the_ready,) = _objects()
    tenant = f"test/{owner.tenant_id}"
    orphan = f"{tenant}/{uuid.uuid4()}.0123456789abcdef.tar.gz"
    of_ready = f"{tenant}/{ready.pk}.fedcba9876543210.tar.gz"  # a run the row does not name
    kept = [of_the_ready, f"{tenant}/{uuid.uuid4()}.tar.gz", "test/notes.txt",
            "elsewhere/x.0123456789abcdef.tar.gz"]
    bucket = store.s3()
    for key in [orphan, of_ready, *kept[1:]]:
        bucket.client.put_object(bucket.bucket, key, io.BytesIO(b"x"), 1)
    services.archives_sweep()  # all of them just stored: a run may still go on
    assert sorted(_objects()) == sorted([orphan, of_ready, *kept])
    assert services.archives_sweep(now=timezone.now() + timedelta(hours=4)) == 2
    assert sorted(_objects()) == sorted(kept)
