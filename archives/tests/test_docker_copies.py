"""The Docker driver's copy helpers, offline (no engine here): a home written with
``_home_tar_from`` and read back with ``_extract_home`` is the same tree, the given files
win over the copied ones, and entries leaving the directory are dropped."""

from __future__ import annotations

import io
import tarfile

from archives.tests.helpers import fake_home
from deploy.drivers import docker


def test_a_home_goes_into_a_volume_and_comes_back(tmp_path):
    source = fake_home(tmp_path)
    given = {"cometbft/config/config.toml": b"new config",
             "cometbft/config/node_key.json": b"key from the database"}
    spool = io.BytesIO()
    docker._home_tar_from(source, given, spool)
    spool.seek(0)
    with tarfile.open(fileobj=spool) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members[docker.HOME_MARKER].isfile()
    assert all(m.uid == docker.NODE_UID for m in members.values())
    assert members["cometbft/config/node_key.json"].mode == 0o600
    # What the engine gives back for "/node/.": the same entries under "./".
    spool.seek(0)
    echoed = io.BytesIO()
    with tarfile.open(fileobj=spool) as tar_in, tarfile.open(fileobj=echoed, mode="w") as out:
        for member in tar_in.getmembers():
            data = tar_in.extractfile(member).read() if member.isfile() else None
            member.name = f"./{member.name}"
            out.addfile(member, io.BytesIO(data) if data is not None else None)
        evil = tarfile.TarInfo("../outside")
        evil.size = 1
        out.addfile(evil, io.BytesIO(b"x"))
    echoed.seek(0)
    dest = tmp_path / "back"
    docker._extract_home(echoed, dest)
    assert (dest / "cometbft/config/config.toml").read_bytes() == b"new config"
    assert (dest / "cometbft/config/node_key.json").read_bytes() == b"key from the database"
    assert (dest / "cometbft/data/priv_validator_state.json").read_bytes() == \
        (source / "cometbft/data/priv_validator_state.json").read_bytes()
    assert (dest / "app/state.sqlite").is_file()
    assert not (dest / docker.HOME_MARKER).exists()
    assert not (tmp_path / "outside").exists()


def test_the_kubernetes_driver_says_it_cannot_copy(tmp_path):
    import pytest

    from deploy.drivers.base import DriverError
    from deploy.drivers.kubernetes import KubernetesDriver

    driver = KubernetesDriver()
    for call in (lambda: driver.export_node_home(network_id="n", node_id="x", dest=tmp_path),
                 lambda: driver.ledger_source("0" * 16, tmp_path)):
        with pytest.raises(DriverError) as info:
            call()
        assert info.value.code == "driver_not_implemented"
        assert "not support export, backup or restore" in info.value.message


def test_the_ledger_copy_helper_container_is_labelled_ours(tmp_path, monkeypatch):
    created = {}

    class Container:
        def get_archive(self, path):
            spool = io.BytesIO()
            with tarfile.open(fileobj=spool, mode="w"):
                pass
            return [spool.getvalue()], {}

        def remove(self, **kwargs):
            created["removed"] = True

    class Containers:
        def create(self, image, **kwargs):
            created.update(kwargs)
            return Container()

    class Image:
        id = "sha256:x"

    driver = docker.DockerDriver(install_id="inst-1")
    driver._client = type("Client", (), {"containers": Containers()})()
    monkeypatch.setattr(driver, "_find_image", lambda version: Image())
    driver.ledger_source("0" * 16, tmp_path)
    assert created["labels"] == {docker.L_INSTALL: "inst-1", "baas.helper": "ledger-source"}
    assert created["removed"]
