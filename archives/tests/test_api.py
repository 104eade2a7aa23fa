"""Roles, scopes and refusals of the archives API, and backup schedules, on network rows
(no running nodes: every case here is refused or queued before a driver is asked)."""

from __future__ import annotations

import io
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from archives import services
from archives.models import Archive, BackupSchedule
from archives.tests.helpers import make_backup
from baas.models import Operation
from baas.testing import api_client_for, token_client
from deploy.models import Network
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory

pytestmark = pytest.mark.django_db
PASS = "a long passphrase"


@pytest.fixture
def setup(settings, tmp_path, monkeypatch):
    from deploy import crypto

    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    crypto.reset_cache()
    queued: list = []
    monkeypatch.setattr("archives.services.enqueue_after_commit",
                        lambda task, *a, **k: queued.append((task.name, a)))
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant)
    NodeFactory(network=network, index=0)
    yield owner, network, queued
    crypto.reset_cache()


def _client(tenant, role):
    return api_client_for(MembershipFactory(role=role, tenant=tenant).user, tenant)


def test_only_admins_export_back_up_and_download(setup):
    owner, network, queued = setup
    for role in ("viewer", "developer"):
        client = _client(owner.tenant, role)
        res = client.post(f"/api/v1/networks/{network.pk}/exports/")
        assert res.status_code == 403, res.content
        res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": PASS},
                          format="json")
        assert res.status_code == 403
    assert Archive.objects.count() == 0 and not queued
    admin = _client(owner.tenant, "admin")
    res = admin.post(f"/api/v1/networks/{network.pk}/exports/")
    assert res.status_code == 202, res.content
    assert queued == [("archives.export", (res.json()["archive"]["id"],
                                           res.json()["operation"]["id"]))]
    assert Operation.objects.get(pk=res.json()["operation"]["id"]).kind == "network.export"
    # A second copy while the first runs is refused.
    again = admin.post(f"/api/v1/networks/{network.pk}/exports/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "network_busy"
    # The list is for viewers too; the file is not.
    archive = Archive.objects.get()
    Archive.objects.filter(pk=archive.pk).update(status="ready")
    services.archive_path(archive).parent.mkdir(parents=True)
    services.archive_path(archive).write_bytes(b"x")
    viewer = _client(owner.tenant, "viewer")
    listed = viewer.get(f"/api/v1/networks/{network.pk}/exports/")
    assert [a["id"] for a in listed.json()] == [str(archive.pk)]
    assert viewer.get(f"/api/v1/archives/{archive.pk}/download/").status_code == 403
    assert admin.get(f"/api/v1/archives/{archive.pk}/download/").status_code == 200
    stranger = MembershipFactory(role="owner")  # another organisation's owner: not found
    assert api_client_for(stranger.user).get(
        f"/api/v1/archives/{archive.pk}/download/").status_code == 404


def test_a_token_needs_deploy_to_copy_or_download(setup):
    from tenants.services import token_create

    owner, network, _queued = setup
    _token, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                               name="app", scopes=["read", "write"])
    res = token_client(raw).post(f"/api/v1/networks/{network.pk}/exports/")
    assert res.status_code == 403 and res.json()["error"]["code"] == "insufficient_scope"
    archive = Archive.objects.create(tenant=owner.tenant, network=network, kind="export",
                                     status="ready", network_name="n", chain_id="c")
    res = token_client(raw).get(f"/api/v1/archives/{archive.pk}/download/")
    assert res.status_code == 403 and res.json()["error"]["code"] == "insufficient_scope"


def test_bad_backup_requests_make_nothing(setup):
    owner, network, queued = setup
    client = api_client_for(owner.user)
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": "short"},
                      format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "weak_passphrase"
    Network.objects.filter(pk=network.pk).update(status="stopped")
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": PASS},
                      format="json")
    assert res.status_code == 409 and res.json()["error"]["code"] == "network_not_running"
    Network.objects.filter(pk=network.pk).update(status="running", driver="kubernetes")
    res = client.post(f"/api/v1/networks/{network.pk}/exports/")
    assert res.status_code == 409 and res.json()["error"]["code"] == "archives_not_supported"
    other = NetworkFactory()  # another tenant's: not found, like a missing one
    res = client.post(f"/api/v1/networks/{other.pk}/backups/", {"passphrase": PASS},
                      format="json")
    assert res.status_code == 404
    assert Archive.objects.count() == 0 and not queued


def _upload(client, path, **fields):
    with open(path, "rb") as fh:
        return client.post("/api/v1/restores/", {"archive": fh, "name": "back",
                                                 "passphrase": PASS, **fields},
                           format="multipart")


def test_restores_of_bad_archives_are_refused_and_leave_nothing(setup, tmp_path):
    owner, network, queued = setup
    client = api_client_for(owner.user)
    before = Network.objects.count()
    good = tmp_path / "good.tar.gz"
    make_backup(good, tenant_id=str(owner.tenant.pk), chain_id="fresh-1")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:200])
    foreign = tmp_path / "foreign.tar.gz"
    foreign.write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    someone_else = tmp_path / "else.tar.gz"
    make_backup(someone_else, tenant_id="another-tenant")
    cases = [(cut, {}, "archive_corrupt"), (foreign, {}, "archive_corrupt"),
             (someone_else, {}, "archive_foreign"),
             (good, {"passphrase": "not the passphrase"}, "wrong_passphrase")]
    for path, fields, code in cases:
        res = _upload(client, path, **fields)
        assert res.status_code == 400, res.content
        assert res.json()["error"]["code"] == code, (path.name, res.content)
    # The network the backup came from still exists: refused.
    Network.objects.filter(pk=network.pk).update(chain_id="fresh-1", status="stopped")
    res = _upload(client, good)
    assert res.status_code == 409 and res.json()["error"]["code"] == "source_network_exists"
    Network.objects.filter(pk=network.pk).update(status="running")
    res = _upload(client, good)
    assert res.json()["error"]["code"] == "source_network_running"
    assert Network.objects.count() == before and not queued
    uploads = services.backup_dir() / str(owner.tenant.pk) / "uploads"
    assert not list(uploads.glob("*")) if uploads.exists() else True
    # An export is no backup.
    export = Archive.objects.create(tenant=owner.tenant, network=network, kind="export",
                                    status="ready", network_name="n", chain_id="c")
    res = client.post("/api/v1/restores/", {"backup": str(export.pk), "name": "back",
                                            "passphrase": PASS}, format="json")
    assert res.status_code == 409 and res.json()["error"]["code"] == "archive_not_restorable"


def test_a_good_upload_queues_a_restore_once_the_source_is_deleted(setup, tmp_path):
    owner, network, queued = setup
    client = api_client_for(owner.user)
    good = tmp_path / "good.tar.gz"
    make_backup(good, tenant_id=str(owner.tenant.pk), chain_id=network.chain_id)
    Network.objects.filter(pk=network.pk).update(status="deleted")
    res = _upload(client, good)
    assert res.status_code == 202, res.content
    restored = Network.objects.get(pk=res.json()["network"]["id"])
    assert restored.chain_id == network.chain_id and restored.status == "requested"
    network.refresh_from_db()
    assert network.chain_id != restored.chain_id  # the deleted row's id moved aside
    assert queued[0][0] == "archives.restore"


def test_schedules_start_due_backups_and_keep_the_newest(setup):
    owner, network, queued = setup
    client = api_client_for(owner.user)
    url = f"/api/v1/networks/{network.pk}/backup-schedule/"
    assert client.get(url).status_code == 404
    res = client.put(url, {"interval_hours": 6, "keep": 2}, format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "weak_passphrase"
    res = client.put(url, {"interval_hours": 6, "keep": 2, "passphrase": PASS}, format="json")
    assert res.status_code == 200, res.content
    assert "passphrase" not in res.json()
    dev = _client(owner.tenant, "developer")
    assert dev.put(url, {"interval_hours": 1, "keep": 1}, format="json").status_code == 403
    schedule = BackupSchedule.objects.get()
    assert services.backups_due() == []  # not due yet
    for _ in range(3):
        Archive.objects.create(tenant=owner.tenant, network=network, kind="backup",
                               status="ready", scheduled=True, network_name="n", chain_id="c")
    BackupSchedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1))
    started = services.backups_due()
    assert len(started) == 1 and queued[-1][0] == "archives.backup"
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now() + timedelta(hours=5)
    # Pruning waits for the new backup: a failed one must not cost a good old one.
    assert Archive.objects.filter(scheduled=True, status="ready").count() == 3
    Archive.objects.filter(status="pending").update(status="ready")
    services.prune_scheduled(network.pk)
    assert Archive.objects.filter(scheduled=True, status="ready").count() == 2
    # A stopped network is skipped until its next turn.
    Network.objects.filter(pk=network.pk).update(status="stopped")
    BackupSchedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1))
    assert services.backups_due() == []


def test_damage_found_by_the_task_removes_the_new_network(setup, tmp_path, monkeypatch):
    """The request checks the manifest and the passphrase; the task checks every file
    before any node is made, and a damaged one takes the new network away again."""
    from archives import tasks
    from deploy.drivers.local import LocalDriver
    from deploy.models import NetworkIdentity, NodeKey

    owner, network, queued = setup
    driver = LocalDriver(nodes_dir=tmp_path / "nodes")
    monkeypatch.setattr("deploy.drivers.registry.get_driver", lambda name, **kw: driver)
    good = tmp_path / "good.tar.gz"
    make_backup(good, tenant_id=str(owner.tenant.pk), chain_id="fresh-2", validators=2)
    res = _upload(api_client_for(owner.user), good)
    assert res.status_code == 202, res.content
    (name, args), = queued
    stored = args[2]
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(stored) as tar_in, tarfile.open(damaged, "w:gz") as tar_out:
        for member in tar_in:
            data = tar_in.extractfile(member).read()
            if member.name.endswith("000001.log"):
                data = data.replace(b"blocks", b"xxxxxx")
            tar_out.addfile(member, io.BytesIO(data))
    damaged.replace(stored)
    tasks.restore_task(*args)
    op = Operation.objects.get(pk=res.json()["operation"]["id"])
    assert (op.state, op.error_code) == ("failed", "archive_corrupt")
    restored = Network.objects.get(pk=res.json()["network"]["id"])
    assert restored.status == "deleted"
    assert not NodeKey.objects.filter(node__network=restored).exists()
    assert not NetworkIdentity.objects.filter(network=restored).exists()
    assert not restored.nodes.exclude(status="deleted").exists()
    assert not Path(stored).exists()  # the upload is not kept


def test_an_archive_whose_operation_ended_without_it_fails(setup):
    owner, network, _queued = setup
    res = api_client_for(owner.user).post(f"/api/v1/networks/{network.pk}/exports/")
    archive_id, op_id = res.json()["archive"]["id"], res.json()["operation"]["id"]
    assert services.archives_reap() == 0
    Operation.objects.filter(pk=op_id).update(state="failed", error_code="deadline_exceeded")
    assert services.archives_reap() == 1
    archive = Archive.objects.get(pk=archive_id)
    assert (archive.status, archive.error_code) == ("failed", "deadline_exceeded")
