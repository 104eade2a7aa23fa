"""The portal page of a network's exports and backups."""

from __future__ import annotations

import pytest
from django.test import Client

from archives import services
from archives.models import Archive
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def network(settings, tmp_path, monkeypatch):
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    monkeypatch.setattr("archives.services.enqueue_after_commit", lambda *a, **k: None)
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant)
    NodeFactory(network=network, index=0)
    return network


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def test_admins_export_and_download_viewers_only_read(network):
    admin = MembershipFactory(role="admin", tenant=network.tenant)
    viewer = MembershipFactory(role="viewer", tenant=network.tenant)
    url = f"/networks/{network.pk}/archives/"
    page = _client(admin).get(url)
    assert page.status_code == 200 and b'name="passphrase"' in page.content
    res = _client(admin).post(url, {"action": "export"})
    assert res.status_code == 302
    archive = Archive.objects.get()
    assert archive.kind == "export"
    Archive.objects.filter(pk=archive.pk).update(status="ready", size=1)
    services.archive_path(archive).parent.mkdir(parents=True)
    services.archive_path(archive).write_bytes(b"x")
    seen = _client(viewer).get(url)
    assert seen.status_code == 200 and b'name="passphrase"' not in seen.content
    assert b"/download/" not in seen.content
    download = f"/archives/{archive.pk}/download/"
    assert _client(viewer).get(download).status_code == 404
    assert _client(admin).get(download).status_code == 200
    # A short passphrase is refused with a message, nothing made.
    _client(admin).post(url, {"action": "backup", "passphrase": "short"})
    assert Archive.objects.count() == 1


def test_another_organisations_network_is_not_found(network):
    stranger = MembershipFactory(role="owner")
    assert _client(stranger).get(f"/networks/{network.pk}/archives/").status_code == 404
