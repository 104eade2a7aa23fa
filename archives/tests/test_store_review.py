"""Regressions of the S3 backup store review: downloads streamed under ASGI, strict
removal by the sweeps, upload heartbeats and a conditional finish, clear errors."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from archives import services, store
from archives.models import Archive
from deploy.tests.factories import MembershipFactory, NetworkFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(settings, tmp_path):
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    return MembershipFactory(role="owner")


def _s3_archive(owner, **fields) -> Archive:
    network = NetworkFactory(tenant=owner.tenant)
    values = {"tenant": owner.tenant, "network": network, "kind": "backup",
              "status": "ready", "network_name": network.name,
              "chain_id": network.chain_id, "store": "s3", "size": 3, "sha256": "0" * 64}
    return Archive.objects.create(**{**values, **fields})


def test_an_s3_download_under_asgi_is_read_chunk_by_chunk(owner, monkeypatch):
    """Under ASGI the answer is an async iterator pulling one chunk at a time from the
    store (in a thread): never the whole object in memory before the first byte."""
    from django.test import AsyncClient

    from tenants.services import token_create

    archive = _s3_archive(owner, size=3 * 4)
    pulled: list[int] = []
    closed: list[bool] = []

    def chunks():
        try:
            for i in range(3):
                pulled.append(i)
                yield b"%04d" % i
        finally:
            closed.append(True)

    monkeypatch.setattr(services, "archive_stream", lambda *, archive: (chunks(), 12))
    _token, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                               name="dl", scopes=["read", "deploy"])

    async def download():
        response = await AsyncClient().get(f"/api/v1/archives/{archive.pk}/download/",
                                           authorization=f"Bearer {raw}")
        assert response.status_code == 200, response.content
        assert response["Content-Length"] == "12"
        assert response.is_async
        seen = []
        async for chunk in response:
            seen.append((chunk, len(pulled)))
        return seen

    seen = async_to_sync(download)()
    # Each chunk was produced only when the one before had gone out.
    assert seen == [(b"0000", 1), (b"0001", 2), (b"0002", 3)]
    assert closed == [True]


def test_chunks_in_threads_closes_the_iterator_when_the_client_goes_away():
    from baas.middleware import chunks_in_threads

    events: list[str] = []

    def chunks():
        try:
            yield b"a"
            events.append("second pulled")
            yield b"b"
        finally:
            events.append("closed")

    async def first_only():
        stream = chunks_in_threads(chunks())
        first = await stream.__anext__()
        await stream.aclose()
        return first

    assert async_to_sync(first_only)() == b"a"
    assert events == ["closed"]


class FakeBucket:
    """Stands in for ``store.S3Store``: records deletes, fails them while ``down``."""

    def __init__(self):
        self.down = True
        self.deleted: list[str] = []

    def key(self, tenant_id, archive_id):
        return f"{tenant_id}/{archive_id}.tar.gz"

    def delete(self, key):
        if self.down:
            raise store.StoreError("backup_store_unavailable", "down", 503, "unreachable")
        self.deleted.append(key)

    def listing(self):
        if self.down:
            raise store.StoreError("backup_store_unavailable", "down", 503, "unreachable")
        return []


@pytest.fixture
def bucket(monkeypatch):
    fake = FakeBucket()
    monkeypatch.setattr(store, "s3", lambda: fake)
    return fake


def test_the_export_sweep_keeps_a_row_whose_object_could_not_be_removed(owner, bucket,
                                                                        settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.BAAS_EXPORT_TTL_HOURS = 1
    export = _s3_archive(owner, kind="export")
    Archive.objects.filter(pk=export.pk).update(created_at=timezone.now()
                                                - timedelta(hours=2))
    services.archives_sweep()
    # The store did not answer: the row stays, naming the object still in the bucket.
    assert Archive.objects.filter(pk=export.pk).exists() and bucket.deleted == []
    bucket.down = False
    services.archives_sweep()  # the next sweep removes both
    assert not Archive.objects.filter(pk=export.pk).exists()
    assert bucket.deleted == [bucket.key(owner.tenant_id, export.pk)]


def test_pruning_scheduled_backups_keeps_rows_whose_objects_stay(owner, bucket):
    from datetime import timedelta

    from django.utils import timezone

    network = NetworkFactory(tenant=owner.tenant)
    services.schedule_set(tenant=owner.tenant, actor=owner.user, network=network,
                          enabled=True, interval_hours=1, keep=1,
                          passphrase="a long passphrase")
    now = timezone.now()
    made = []
    for i in range(3):
        archive = _s3_archive(owner, network=network, scheduled=True)
        Archive.objects.filter(pk=archive.pk).update(created_at=now - timedelta(hours=5 - i))
        made.append(archive)
    services.prune_scheduled(network.pk)
    assert Archive.objects.filter(network=network).count() == 3 and bucket.deleted == []
    bucket.down = False
    services.prune_scheduled(network.pk)
    assert list(Archive.objects.filter(network=network)) == [made[-1]]
    assert sorted(bucket.deleted) == sorted(bucket.key(owner.tenant_id, a.pk)
                                            for a in made[:2])


def test_deleting_an_s3_archive_with_the_store_unconfigured_says_what_to_configure(
        owner, settings):
    from baas.testing import api_client_for

    settings.BAAS_BACKUP_STORE = "local"
    settings.BAAS_BACKUP_S3_ENDPOINT = ""
    archive = _s3_archive(owner)
    res = api_client_for(owner.user).delete(f"/api/v1/archives/{archive.pk}/")
    assert res.status_code == 503
    error = res.json()["error"]
    assert error["details"]["reason"] == "not_configured"
    assert "BAAS_BACKUP_S3_" in error["message"]
    assert Archive.objects.filter(pk=archive.pk).exists()
