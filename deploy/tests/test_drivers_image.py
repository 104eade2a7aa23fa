"""The node image's inputs: its entrypoint's peer parsing and its dependency pins.

The image itself is built and run by ``test_drivers_docker.py``; these checks need no engine.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NODE_IMAGE = REPO / "deploy/images/node"


def _entrypoint():
    spec = importlib.util.spec_from_file_location("node_entrypoint", NODE_IMAGE / "entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entrypoint_reads_peer_hosts_from_config():
    ep = _entrypoint()
    config = (
        'moniker = "node0"\n[p2p]\nladdr = "tcp://node0:26656"\n'
        'persistent_peers = "ab12@node1:26656, cd34@node2:26656,ef56@127.0.0.1:30001"\n'
    )
    assert ep.peer_hosts(config) == ["node1", "node2", "127.0.0.1"]
    assert ep.peer_hosts('persistent_peers = ""\n') == []
    assert ep.peer_hosts("no peers at all\n") == []


def test_entrypoint_resolves_names():
    ep = _entrypoint()
    assert ep.resolves("localhost")
    assert not ep.resolves("no-such-host.invalid")


def test_every_image_package_is_pinned_in_requirements():
    names = [
        line.strip()
        for line in (NODE_IMAGE / "packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    requirements = (REPO / "requirements.txt").read_text()
    assert names
    for name in names:
        pattern = rf"^{re.escape(name)}(\[[^]]*\])?==\S+$"
        assert re.search(pattern, requirements, re.IGNORECASE | re.MULTILINE), name


def test_dockerfile_keeps_a_public_default_base():
    dockerfile = (NODE_IMAGE / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=python:3\.11-slim-bookworm$", dockerfile, re.MULTILINE)
    assert "FROM ${BASE}" in dockerfile
