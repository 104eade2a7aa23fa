"""A backup uploaded for a restore may be as large as ``BAAS_RESTORE_UPLOAD_MAX_BYTES``;
every other API body, and a JSON body to the same endpoint, keeps ``BAAS_MAX_BODY_BYTES``
(``DATA_UPLOAD_MAX_MEMORY_SIZE``). A backup is far larger than any other request."""

from __future__ import annotations

import pytest

from archives.tests.helpers import make_backup
from archives.tests.test_api import PASS, _upload, setup  # noqa: F401 -- the fixture
from baas.testing import api_client_for
from deploy.models import Network

pytestmark = pytest.mark.django_db


@pytest.fixture
def backup_file(setup, tmp_path, settings):  # noqa: F811
    owner, network, queued = setup
    path = tmp_path / "good.tar.gz"
    make_backup(path, tenant_id=str(owner.tenant.pk), chain_id=network.chain_id)
    Network.objects.filter(pk=network.pk).update(status="deleted")
    # the backup is larger than the body limit of every other request
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = path.stat().st_size // 2
    return owner, network, queued, path


def test_a_backup_larger_than_the_api_body_limit_is_restored(backup_file, settings):
    owner, _network, queued, backup_file = backup_file
    settings.BAAS_RESTORE_UPLOAD_MAX_BYTES = backup_file.stat().st_size * 4
    res = _upload(api_client_for(owner.user), backup_file)
    assert res.status_code == 202, res.content
    assert queued[0][0] == "archives.restore"


def test_a_backup_above_the_upload_limit_is_a_413_and_makes_nothing(backup_file, settings):
    owner, _network, queued, backup_file = backup_file
    # below the upload limit's 413 only: the ordinary limit is far lower, and larger
    # bodies of this request must still pass it
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = backup_file.stat().st_size // 8
    settings.BAAS_RESTORE_UPLOAD_MAX_BYTES = backup_file.stat().st_size // 2
    before = Network.objects.count()
    res = _upload(api_client_for(owner.user), backup_file)
    assert res.status_code == 413 and res.json()["error"]["code"] == "payload_too_large"
    assert str(settings.BAAS_RESTORE_UPLOAD_MAX_BYTES) in res.json()["error"]["message"]
    assert Network.objects.count() == before and not queued


def test_only_the_restore_upload_gets_the_larger_limit(backup_file, settings):
    owner, network, _queued, _path = backup_file
    settings.BAAS_RESTORE_UPLOAD_MAX_BYTES = 10**9
    client = api_client_for(owner.user)
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    # a JSON body to the restore endpoint: the ordinary limit
    res = client.post("/api/v1/restores/", {"name": big, "passphrase": PASS, "backup": "x"},
                      format="json")
    assert res.status_code == 413
    # a multipart body to another endpoint: the ordinary limit
    res = client.post(f"/api/v1/networks/{network.pk}/backups/", {"passphrase": big},
                      format="multipart")
    assert res.status_code == 413
