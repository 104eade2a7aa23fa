"""Crafted and hostile archives, other organisations' keys and operations that overlap a
copy: each case a review found (docs/backup.md, "What a restore trusts")."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from archives import fmt, services, workflows
from archives.models import Archive, BackupSchedule
from archives.tests.helpers import fake_home, make_backup
from baas.errors import Conflict, QuotaExceeded
from baas.runner import StepFailed
from baas.testing import api_client_for
from deploy import crypto, homes
from deploy.guards import no_active_validator_change
from deploy.models import Network, NetworkIdentity, NetworkPolicy, NodeKey
from deploy.tests.factories import (
    MembershipFactory,
    NetworkFactory,
    NodeFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db
PASS = "a long passphrase"


@pytest.fixture
def kek(settings, tmp_path):
    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    crypto.reset_cache()
    yield
    crypto.reset_cache()


@pytest.fixture
def setup(kek, monkeypatch):
    queued: list = []
    monkeypatch.setattr("archives.services.enqueue_after_commit",
                        lambda task, *a, **k: queued.append((task.name, a, k)))
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant, status="running")
    NodeFactory(network=network, index=0)
    return owner, network, queued


class _Run:
    operation_id, claim = None, ""

    def step(self, *a, **k): pass

    def succeed(self, *a, **k): pass

    def check(self): pass


def _retar(src: Path, dst: Path, edit) -> None:
    """Rewrite a backup's members with ``edit(name, data) -> [(name, data), ...]``."""
    out = []
    with tarfile.open(src, "r:gz") as tar:
        for member in tar:
            out += edit(member.name, tar.extractfile(member).read())
    with tarfile.open(dst, "w:gz") as tar:
        for name, data in out:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _edit_manifest(src: Path, dst: Path, change) -> None:
    def edit(name, data):
        if name == fmt.MANIFEST:
            manifest = json.loads(data)
            change(manifest)
            return [(name, json.dumps(manifest).encode())]
        return [(name, data)]
    _retar(src, dst, edit)


def _upload(client, path: Path, name: str = "restored"):
    with open(path, "rb") as fh:
        return client.post("/api/v1/restores/", {"name": name, "passphrase": PASS,
                                                 "archive": fh}, format="multipart")


def _uploads_left(tenant) -> list[Path]:
    return list((services.backup_dir() / str(tenant.pk) / "uploads").glob("*"))


# --- 1. other organisations' keys --------------------------------------------------------


def test_a_backup_holds_only_the_owners_signing_identity(setup, monkeypatch, tmp_path):
    owner, network, queued = setup
    NetworkIdentity.objects.create(network=network, tenant=owner.tenant, organisation_id="own",
                                   member_id="platform", public_key="aa" * 32,
                                   sealed_private_key=crypto.seal(b"OWNER-KEY"))
    NetworkIdentity.objects.create(network=network, tenant=TenantFactory(),
                                   organisation_id="member", member_id="platform",
                                   public_key="bb" * 32,
                                   sealed_private_key=crypto.seal(b"MEMBER-SECRET"))
    archive, _op = services.backup_create(tenant=owner.tenant, actor=owner.user,
                                          network=network, passphrase=PASS)
    monkeypatch.setattr(workflows, "copy_nodes", lambda run, net, into, **k: [
        fmt.BackupNode(index=0, moniker="n-0", home=fake_home(into, 0), height=7)])
    workflows.backup(_Run(), str(archive.pk), queued[0][2]["sealed_passphrase"])
    opened = fmt.open_backup(services.archive_path(archive), PASS, tmp_path / "o")
    keys = {base64.b64decode(i["private_key"]) for i in opened.keys["identities"]}
    assert keys == {b"OWNER-KEY"}


def _opened(tmp_path: Path, *, chain_id: str = "c-1", config: str | None = None,
            extra_keys: dict | None = None, identities: list | None = None,
            extra_files: dict | None = None) -> fmt.OpenedBackup:
    home = fake_home(tmp_path, 0)
    if config is not None:
        (home / "cometbft/config/config.toml").write_text(config)
    (home / "cometbft/config/genesis.json").write_text(json.dumps({"chain_id": chain_id}))
    for rel, text in (extra_files or {}).items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    (tmp_path / "root/nodes").mkdir(parents=True)
    home.rename(tmp_path / "root/nodes/0")
    node_keys = {rel: base64.b64encode(json.dumps({"pub_key": {"value": "AA=="}}).encode())
                 .decode() for rel in fmt.NODE_KEY_PATHS}
    node_keys.update(extra_keys or {})
    manifest = {"nodes": [{"index": 0, "moniker": "n-0", "keys": sorted(node_keys)}]}
    return fmt.OpenedBackup(manifest=manifest,
                            keys={"nodes": {"0": node_keys}, "identities": identities or []},
                            root=tmp_path / "root")


def _ident(tenant_id, org: str, member: str = "platform") -> dict:
    return {"tenant": str(tenant_id), "organisation_id": org, "member_id": member,
            "public_key": "aa" * 32, "private_key": base64.b64encode(b"k").decode()}


def test_a_restore_takes_only_the_owners_identity(kek, tmp_path):
    network = NetworkFactory(status="requested", chain_id="c-1")
    node = NodeFactory(network=network, index=0, p2p_port=1000, rpc_port=1001, abci_port=1002)
    ids = [_ident(network.tenant_id, "own"), _ident(network.tenant_id + 1000, "member")]
    workflows._store_homes(network, [node], _opened(tmp_path, identities=ids))
    assert list(NetworkIdentity.objects.filter(network=network).values_list(
        "tenant_id", "organisation_id")) == [(network.tenant_id, "own")]


@pytest.mark.parametrize("ident", [
    {"organisation_id": "../../escaped"},
    {"member_id": "a/b"},
    {"public_key": "not hex"},
])
def test_a_restore_refuses_identities_no_ledger_would_accept(kek, tmp_path, ident):
    network = NetworkFactory(status="requested", chain_id="c-1")
    node = NodeFactory(network=network, index=0, p2p_port=1000, rpc_port=1001, abci_port=1002)
    bad = {**_ident(network.tenant_id, "own"), **ident}
    with pytest.raises(StepFailed) as err:
        workflows._store_homes(network, [node], _opened(tmp_path, identities=[bad]))
    assert err.value.code == "archive_corrupt"
    assert not NetworkIdentity.objects.filter(network=network).exists()


def test_an_export_never_writes_an_identity_outside_its_folder(setup, tmp_path):
    owner, network, _queued = setup
    NetworkIdentity.objects.create(network=network, tenant=owner.tenant,
                                   organisation_id="../../escaped", member_id="x",
                                   public_key="aa", sealed_private_key=crypto.seal(b"k"))
    keys = tmp_path / "stage" / "export" / "keys"
    keys.parent.mkdir(parents=True)
    with pytest.raises(StepFailed):
        workflows._identity_keys(network, keys)
    assert not list(tmp_path.rglob("*.json"))


# --- 2. the archive's CometBFT configuration is not used ---------------------------------


HOSTILE_CONFIG = ('proxy_app = "x"\n[rpc]\nladdr = "x"\nunsafe = true\n'
                  'pprof_laddr = "0.0.0.0:6060"\n[p2p]\nladdr = "x"\npersistent_peers = ""\n'
                  'addr_book_file = "/tmp/pwned"\n')


@pytest.mark.cometbft
def test_a_restore_configures_nodes_like_provisioning(kek, tmp_path):
    network = NetworkFactory(status="requested", chain_id="c-1")
    node = NodeFactory(network=network, index=0, p2p_port=1000, rpc_port=1001, abci_port=1002)
    override = base64.b64encode(b'[p2p]\nladdr = "tcp://0.0.0.0:26656"\n').decode()
    opened = _opened(tmp_path, config=HOSTILE_CONFIG,
                     extra_keys={"cometbft/config/config.toml": override,
                                 "cometbft/config/evil_key.json": override})
    workflows._store_homes(network, [node], opened)
    node.refresh_from_db()
    files = homes.home_files(node)
    cfg = files["cometbft/config/config.toml"].decode()
    assert "unsafe = false" in cfg and "0.0.0.0" not in cfg and "/tmp/pwned" not in cfg
    assert f'laddr = "tcp://{node.host}:1000"' in cfg
    assert set(NodeKey.objects.filter(node=node).values_list("path", flat=True)) \
        == set(fmt.NODE_KEY_PATHS)
    assert set(files) == {"node.json", "cometbft/config/genesis.json",
                          "cometbft/config/config.toml", *fmt.NODE_KEY_PATHS}


@pytest.mark.cometbft
def test_a_restore_refuses_a_genesis_of_another_chain(kek, tmp_path):
    network = NetworkFactory(status="requested", chain_id="c-1")
    node = NodeFactory(network=network, index=0, p2p_port=1000, rpc_port=1001, abci_port=1002)
    with pytest.raises(StepFailed) as err:
        workflows._store_homes(network, [node], _opened(tmp_path, chain_id="other"))
    assert err.value.code == "archive_corrupt"


@pytest.mark.cometbft
def test_a_restore_refuses_nodes_with_different_genesis_files(kek, tmp_path):
    network = NetworkFactory(status="requested", chain_id="c-1")
    nodes = [NodeFactory(network=network, index=i, p2p_port=1000 + i, rpc_port=1100 + i,
                         abci_port=1200 + i) for i in (0, 1)]
    opened = _opened(tmp_path)
    second = opened.root / "nodes" / "1"
    shutil.copytree(opened.node_home(0), second)
    (second / "cometbft/config/genesis.json").write_text(
        json.dumps({"chain_id": "c-1", "validators": []}))
    opened.keys["nodes"]["1"] = opened.keys["nodes"]["0"]
    opened.manifest["nodes"].append({**opened.manifest["nodes"][0], "index": 1})
    with pytest.raises(StepFailed) as err:
        workflows._store_homes(network, nodes, opened)
    assert err.value.code == "archive_corrupt"


def test_only_chain_data_and_app_state_reach_the_driver(tmp_path):
    home = fake_home(tmp_path, 0)
    (home / "cometbft/config/addrbook.json").write_text("{}")
    (home / "extra.sh").write_text("#!/bin/sh")
    workflows._data_only(home)
    left = {p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()}
    assert left == {"cometbft/data/blockstore.db/000001.log",
                    "cometbft/data/priv_validator_state.json", "app/state.sqlite"}


# --- 3. one manifest ---------------------------------------------------------------------


def test_a_second_manifest_cannot_replace_the_checked_one(tmp_path):
    src = tmp_path / "b.tar.gz"
    make_backup(src, tenant_id="T")
    with tarfile.open(src, "r:gz") as tar:
        original = {m.name: tar.extractfile(m).read() for m in tar}
    evil = b'proxy_app = "x"\n[rpc]\nladdr = "x"\nunsafe = true\n'
    manifest = json.loads(original[fmt.MANIFEST])
    rel = "nodes/0/cometbft/config/config.toml"
    manifest["files"][rel] = {"size": len(evil), "sha256": hashlib.sha256(evil).hexdigest()}

    def edit(name, data):
        if name == fmt.MANIFEST:
            return [(name, json.dumps(manifest).encode())]
        if name == fmt.KEYS_FILE:  # the original manifest after the keys: the tag's input
            return [(name, data), (fmt.MANIFEST, original[fmt.MANIFEST])]
        return [(name, evil if name == rel else data)]
    dst = tmp_path / "t.tar.gz"
    _retar(src, dst, edit)
    with pytest.raises(fmt.ArchiveError) as err:
        fmt.open_backup(dst, PASS, tmp_path / "o")
    assert err.value.code == "archive_corrupt"


# --- 4. a restore is gated like a create -------------------------------------------------


def test_a_restore_needs_approval_where_a_create_does(setup, tmp_path):
    owner, _network, queued = setup
    NetworkPolicy.objects.create(tenant=owner.tenant, requires_approval=True)
    src = tmp_path / "b.tar.gz"
    make_backup(src, tenant_id=str(owner.tenant.pk), chain_id="chain-x")
    res = _upload(api_client_for(owner.user, owner.tenant), src)
    assert res.status_code == 409 and res.json()["error"]["code"] == "restore_needs_approval"
    assert not Network.objects.filter(name="restored").exists() and not queued
    assert not _uploads_left(owner.tenant)


def test_a_restore_onto_a_driver_that_cannot_copy_is_refused_first(setup, tmp_path):
    owner, _network, queued = setup
    src, dst = tmp_path / "b.tar.gz", tmp_path / "k.tar.gz"
    make_backup(src, tenant_id=str(owner.tenant.pk), chain_id="chain-x")
    _edit_manifest(src, dst, lambda m: m.update(driver="kubernetes"))
    res = _upload(api_client_for(owner.user, owner.tenant), dst)
    assert res.status_code in (400, 409), res.content
    assert not Network.objects.filter(name="restored").exists() and not queued


# --- 5. a copy in progress keeps other changes out ---------------------------------------


def test_a_pending_backup_blocks_validator_and_version_changes(setup):
    owner, network, _queued = setup
    services.backup_create(tenant=owner.tenant, actor=owner.user, network=network,
                           passphrase=PASS)
    with pytest.raises(Conflict) as err:
        no_active_validator_change(network)
    assert err.value.code == "network_busy"


def test_the_copy_checks_run_again_under_the_lock(setup, monkeypatch):
    owner, network, _queued = setup
    services.backup_create(tenant=owner.tenant, actor=owner.user, network=network,
                           passphrase=PASS)
    # A second request that passed the checks before the first committed:
    with pytest.raises(Conflict):
        services._archive_create(tenant=owner.tenant, actor=owner.user, network=network,
                                 kind="export", op_kind="network.export",
                                 task=services.tasks.export_task, params={}, request=None)
    assert Archive.objects.count() == 1


def test_a_copy_does_not_restart_a_network_stopped_meanwhile(setup, monkeypatch, tmp_path):
    _owner, network, _queued = setup
    started = []

    class Driver:
        def stop_node(self, **k):
            Network.objects.filter(pk=network.pk).update(desired_state="stopped")

        def export_node_home(self, **k): pass

        def start_node(self, **k): started.append(k)

    monkeypatch.setattr(workflows, "driver_for", lambda n: Driver())
    monkeypatch.setattr(workflows, "live_height", lambda node: 1)
    with pytest.raises(StepFailed):
        workflows.copy_nodes(_Run(), network, tmp_path, start=0, end=10)
    assert started == []


def test_a_copy_leaves_member_validators_alone(setup, monkeypatch, tmp_path):
    _owner, network, _queued = setup
    NodeFactory(network=network, index=1, tenant=TenantFactory(), status="running")
    copied = []

    class Driver:
        def stop_node(self, **k): pass

        def export_node_home(self, *, network_id, node_id, dest):
            copied.append(node_id)

        def start_node(self, **k): pass

    monkeypatch.setattr(workflows, "driver_for", lambda n: Driver())
    monkeypatch.setattr(workflows, "live_height", lambda node: 1)
    monkeypatch.setattr(workflows, "wait_back", lambda *a, **k: None)
    workflows.copy_nodes(_Run(), network, tmp_path, start=0, end=10)
    assert copied == [str(network.nodes.get(index=0).pk)]


# --- 6. size limits ----------------------------------------------------------------------


def test_a_gzip_bomb_is_refused_before_unpacking(tmp_path):
    with tempfile.TemporaryDirectory() as tmp:
        home = fake_home(Path(tmp), 0)
        with open(home / "cometbft/data/blockstore.db/big.log", "wb") as fh:
            for _ in range(64):
                fh.write(b"\0" * (1 << 20))
        nodes = [fmt.BackupNode(index=0, moniker="n-0", home=home, height=7)]
        fmt.build_backup(staging=Path(tmp), target=tmp_path / "bomb.tar.gz",
                         header={"tenant_id": "T", "chain_id": "c", "height": 7},
                         nodes=nodes, identities=[], passphrase=PASS)
    with pytest.raises(fmt.ArchiveError) as err:
        fmt.open_backup(tmp_path / "bomb.tar.gz", PASS, tmp_path / "o")
    assert err.value.code == "archive_too_large"
    assert not (tmp_path / "o" / "nodes").exists()


def test_the_total_size_setting_bounds_a_restore(tmp_path):
    make_backup(tmp_path / "b.tar.gz", tenant_id="T")
    with pytest.raises(fmt.ArchiveError) as err:
        fmt.open_backup(tmp_path / "b.tar.gz", PASS, tmp_path / "o", max_total=100)
    assert err.value.code == "archive_too_large"


# --- 7. hostile manifests ----------------------------------------------------------------


@pytest.mark.parametrize("change", [
    lambda m: m.pop("chain_id"),
    lambda m: m.update(nodes=3),
    lambda m: m.update(nodes="abc"),
    lambda m: m.update(chain_id="x" * 80),
    lambda m: m.update(ledger_version="v" * 40),
    lambda m: m.update(nodes=[{"index": 0, "moniker": "a", "keys": []}] * 2),
])
def test_a_hostile_manifest_is_refused_and_its_upload_removed(setup, tmp_path, change):
    owner, _network, queued = setup
    src, dst = tmp_path / "b.tar.gz", tmp_path / "t.tar.gz"
    make_backup(src, tenant_id=str(owner.tenant.pk), chain_id="fresh-chain")
    _edit_manifest(src, dst, change)
    res = _upload(api_client_for(owner.user, owner.tenant), dst)
    assert res.status_code == 400, res.content
    assert res.json()["error"]["code"] == "archive_corrupt"
    assert not _uploads_left(owner.tenant) and not queued


def test_an_unexpected_error_removes_the_upload_too(setup, tmp_path, monkeypatch):
    owner, _network, _queued = setup
    make_backup(tmp_path / "b.tar.gz", tenant_id=str(owner.tenant.pk), chain_id="c-9")
    upload = services.store_upload(tenant=owner.tenant,
                                   chunks=[(tmp_path / "b.tar.gz").read_bytes()])

    def boom(**k):
        raise RuntimeError("boom")
    monkeypatch.setattr(services, "_check_quota", boom)
    with pytest.raises(RuntimeError):
        services.restore_create(tenant=owner.tenant, actor=owner.user, name="r",
                                passphrase=PASS, upload_id=upload)
    assert not _uploads_left(owner.tenant)


# --- 8. another tenant's chain id --------------------------------------------------------


def test_another_tenants_chain_id_is_neither_named_nor_moved(setup, tmp_path):
    owner, network, _queued = setup
    gone = NetworkFactory(tenant=owner.tenant, status="deleted", chain_id="old-chain")
    attacker = MembershipFactory(role="owner")
    client = api_client_for(attacker.user, attacker.tenant)
    for chain in (network.chain_id, gone.chain_id):
        src = tmp_path / f"{chain}.tar.gz"
        make_backup(src, tenant_id=str(attacker.tenant.pk), chain_id=chain)
        res = _upload(client, src, name="squat")
        assert res.status_code == 409 and res.json()["error"]["code"] == "chain_id_taken"
        assert network.name not in res.content.decode() and not res.json()["error"]["details"]
    gone.refresh_from_db()
    assert gone.chain_id == "old-chain"


# --- 9. key derivation -------------------------------------------------------------------


def test_only_our_scrypt_parameters_are_accepted(tmp_path):
    src, dst = tmp_path / "b.tar.gz", tmp_path / "k.tar.gz"
    make_backup(src, tenant_id="T")

    def edit(name, data):
        if name == fmt.KDF_FILE:
            kdf = json.loads(data)
            kdf.update(n=2**17, r=16, p=4)
            return [(name, json.dumps(kdf).encode())]
        return [(name, data)]
    _retar(src, dst, edit)
    with pytest.raises(fmt.ArchiveError) as err:
        fmt.check_passphrase(dst, PASS)
    assert err.value.code == "archive_corrupt"


@pytest.mark.parametrize("change", [lambda m, t: m.update(tenant_id="999999"),
                                    lambda m, t: m.update(install_id="another-install")])
def test_a_foreign_backup_is_refused_before_any_key_derivation(setup, tmp_path, monkeypatch,
                                                               change):
    owner, _network, _queued = setup
    src, dst = tmp_path / "b.tar.gz", tmp_path / "f.tar.gz"
    make_backup(src, tenant_id=str(owner.tenant.pk))
    _edit_manifest(src, dst, lambda m: change(m, owner.tenant))

    def no_derive(*a, **k):
        raise AssertionError("derived a key for a foreign backup")
    monkeypatch.setattr(fmt, "derive_key", no_derive)
    res = _upload(api_client_for(owner.user, owner.tenant), dst)
    assert res.status_code == 400 and res.json()["error"]["code"] == "archive_foreign"


def test_restore_attempts_are_throttled(setup, tmp_path, settings):
    owner, _network, _queued = setup
    client = api_client_for(owner.user, owner.tenant)
    codes = [client.post("/api/v1/restores/", {"name": "r", "passphrase": "short"},
                         format="json").status_code for _ in range(12)]
    assert codes[0] == 400 and codes[-1] == 429


# --- 12. one backup per scheduled turn ---------------------------------------------------


def test_a_scheduled_turn_is_claimed_once(setup):
    owner, network, _queued = setup
    services.schedule_set(tenant=owner.tenant, actor=owner.user, network=network,
                          enabled=True, interval_hours=1, keep=2, passphrase=PASS)
    BackupSchedule.objects.update(next_run_at=timezone.now())
    stale = BackupSchedule.objects.get()  # what two beats both read
    now = timezone.now()
    assert services._claim(stale, now) is True
    assert services._claim(stale, now) is False


# --- 11. what is left behind -------------------------------------------------------------


def _file_of(archive: Archive) -> Path:
    path = services.archive_path(archive)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_old_exports_uploads_and_staging_are_swept(setup, settings):
    owner, network, _queued = setup
    settings.BAAS_EXPORT_TTL_HOURS = 24
    old = Archive.objects.create(tenant=owner.tenant, network=network, kind="export",
                                 status="ready", network_name="n", chain_id="c")
    Archive.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    fresh = Archive.objects.create(tenant=owner.tenant, network=network, kind="export",
                                   status="ready", network_name="n", chain_id="c")
    old_file, fresh_file = _file_of(old), _file_of(fresh)
    stale_upload = services.upload_path(owner.tenant, "old")
    stale_upload.parent.mkdir(parents=True)
    stale_upload.write_bytes(b"x")
    staging = services.backup_dir() / ".staging" / "tmpdead"
    (staging / "keys").mkdir(parents=True)
    (staging / "keys" / "priv_validator_key.json").write_text("{}")
    # What a run that died left before renaming it into place (workflows.PART).
    stale_part = services.archive_path(fresh).with_name("dead.0123456789abcdef.part")
    stale_part.write_bytes(b"x")
    long_ago = (timezone.now() - timedelta(days=1)).timestamp()
    for path in (stale_upload, staging, stale_part):
        os.utime(path, (long_ago, long_ago))
    new_upload = services.upload_path(owner.tenant, "new")
    new_upload.write_bytes(b"x")
    services.archives_sweep()
    assert not old_file.exists() and not Archive.objects.filter(pk=old.pk).exists()
    assert fresh_file.exists() and new_upload.exists()
    assert not stale_upload.exists() and not staging.exists() and not stale_part.exists()


def test_an_archive_file_goes_with_its_row_however_it_goes(setup):
    owner, network, _queued = setup
    archive = Archive.objects.create(tenant=owner.tenant, network=network, kind="backup",
                                     status="ready", network_name="n", chain_id="c")
    path = _file_of(archive)
    # A bulk or cascading delete (a tenant's removal) calls no service.
    Archive.objects.filter(tenant=owner.tenant).delete()
    assert not path.exists()


def test_archives_per_tenant_are_capped(setup, settings):
    owner, network, _queued = setup
    settings.BAAS_ARCHIVE_MAX_PER_TENANT = 1
    Archive.objects.create(tenant=owner.tenant, network=network, kind="export",
                           status="ready", network_name="n", chain_id="c")
    with pytest.raises(QuotaExceeded):
        services.export_create(tenant=owner.tenant, actor=owner.user, network=network)


def test_scheduled_backups_keep_exactly_keep_and_no_old_failures(setup):
    owner, network, _queued = setup
    services.schedule_set(tenant=owner.tenant, actor=owner.user, network=network,
                          enabled=True, interval_hours=1, keep=2, passphrase=PASS)
    now = timezone.now()
    for i, status in enumerate(["failed", "ready", "ready", "failed", "ready"]):
        a = Archive.objects.create(tenant=owner.tenant, network=network, kind="backup",
                                   status=status, scheduled=True, network_name="n",
                                   chain_id="c")
        Archive.objects.filter(pk=a.pk).update(created_at=now - timedelta(hours=10 - i))
    services.prune_scheduled(network.pk)
    assert list(Archive.objects.filter(network=network).values_list("status", flat=True)) \
        == ["ready", "ready"]


# --- suspected findings ------------------------------------------------------------------


def test_the_portal_hides_the_passphrase_from_error_reports(setup, monkeypatch):
    from django.test import Client

    owner, network, _queued = setup
    seen = {}

    def capture(**kwargs):
        seen["params"] = kwargs["request"].sensitive_post_parameters
        raise Conflict("network_busy", "busy")
    monkeypatch.setattr(services, "backup_create", capture)
    client = Client()
    client.force_login(owner.user)
    client.post(f"/networks/{network.pk}/archives/", {"action": "backup", "passphrase": PASS})
    assert list(seen["params"]) == ["passphrase"]


@pytest.mark.parametrize("case", ["kubernetes", "deleted", "member"])
def test_a_schedule_is_refused_where_a_backup_would_be(setup, case):
    owner, network, _queued = setup
    if case == "kubernetes":
        Network.objects.filter(pk=network.pk).update(driver="kubernetes")
    elif case == "deleted":
        Network.objects.filter(pk=network.pk).update(status="deleted")
    else:
        NodeFactory(network=network, index=1, tenant=TenantFactory(), status="running")
    network.refresh_from_db()
    with pytest.raises(Conflict):
        services.schedule_set(tenant=owner.tenant, actor=owner.user, network=network,
                              enabled=True, interval_hours=1, keep=2, passphrase=PASS)
    assert not BackupSchedule.objects.exists()


def test_a_pending_backup_blocks_stop_start_delete_and_node_restart(setup):
    """The copy stops and starts the validators itself: the owner's lifecycle requests
    wait for it (deploy sees it through deploy.guards, without importing archives)."""
    from deploy import services as deploy_services
    from deploy.models import Node

    owner, network, _queued = setup
    services.backup_create(tenant=owner.tenant, actor=owner.user, network=network,
                           passphrase=PASS)
    for request in (deploy_services.network_stop, deploy_services.network_delete):
        with pytest.raises(Conflict) as err:
            request(tenant=owner.tenant, actor=owner.user, network=network)
        assert err.value.code == "network_busy"
    node = Node.objects.get(network=network)
    with pytest.raises(Conflict) as err:
        deploy_services.node_restart(tenant=owner.tenant, actor=owner.user, node=node)
    assert err.value.code == "network_busy"
    network.refresh_from_db()
    assert network.status == "running"


def test_the_reconciler_leaves_a_network_being_copied_alone(setup, monkeypatch):
    """A node the copy stopped is not a crash: the pass neither inspects nor restarts it."""
    from deploy import reconcile

    owner, network, _queued = setup
    services.backup_create(tenant=owner.tenant, actor=owner.user, network=network,
                           passphrase=PASS)

    real = reconcile.registry.driver_for

    def no_driver(target, *args, **kwargs):
        assert getattr(target, "pk", None) != network.pk, "asked the driver about a copy"
        return real(target, *args, **kwargs)

    monkeypatch.setattr("deploy.reconcile.registry.driver_for", no_driver)
    counts = reconcile.reconcile()
    assert counts.get("skipped_copying") == 1


def test_a_backup_waits_for_a_node_restart(setup):
    from baas.operations import operation_create
    from deploy.models import Node

    owner, network, _queued = setup
    node = Node.objects.get(network=network)
    operation_create(tenant=owner.tenant, actor=owner.user, kind="node.restart",
                     target=("deploy.node", node.pk))
    with pytest.raises(Conflict) as err:
        services.backup_create(tenant=owner.tenant, actor=owner.user, network=network,
                               passphrase=PASS)
    assert err.value.code == "network_busy"


def test_a_silent_copy_fails_and_frees_its_network(setup):
    """A worker that died mid-copy must not keep the network busy (and its validators to
    themselves) until the two-hour deadline: after ten silent minutes the reconciler's
    resume pass fails the copy, and the network is free again."""
    from datetime import timedelta

    from django.utils import timezone

    from baas.models import Operation
    from deploy import reconcile
    from deploy import services as deploy_services

    owner, network, _queued = setup
    services.backup_create(tenant=owner.tenant, actor=owner.user, network=network,
                           passphrase=PASS)
    op = Operation.objects.get(kind="network.backup")
    Operation.objects.filter(pk=op.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    reconcile.resume_stalled()
    with pytest.raises(Conflict):  # slow, not dead yet: still busy
        deploy_services.network_stop(tenant=owner.tenant, actor=owner.user, network=network)
    Operation.objects.filter(pk=op.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    reconcile.resume_stalled()
    op.refresh_from_db()
    assert op.state == "failed" and op.error_code == "copy_stalled"
    assert Archive.objects.get().status == "failed"
    deploy_services.network_stop(tenant=owner.tenant, actor=owner.user, network=network)
