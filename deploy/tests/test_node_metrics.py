"""CometBFT's [instrumentation] as the drivers write it, on a config ``cometbft init`` made."""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest

from deploy.drivers import DriverError
from deploy.drivers._instrumentation import (
    CONFIG_TOML,
    enable_prometheus,
    instrumented,
    prometheus_listen_addr,
)


@pytest.fixture(scope="module")
def init_config(tmp_path_factory) -> str:
    from conftest import require_service

    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    home = tmp_path_factory.mktemp("cmt")
    subprocess.run(["cometbft", "init", "--home", str(home)], check=True, capture_output=True,
                   timeout=60)
    return (home / "config" / "config.toml").read_text()


@pytest.mark.cometbft
def test_metrics_are_turned_on_in_a_real_config_and_nothing_else_changes(init_config):
    assert prometheus_listen_addr(init_config) is None  # off as cometbft init writes it
    text = enable_prometheus(init_config, listen="127.0.0.1:23456")
    parsed, before = tomllib.loads(text), tomllib.loads(init_config)
    assert parsed["instrumentation"]["prometheus"] is True
    assert parsed["instrumentation"]["prometheus_listen_addr"] == "127.0.0.1:23456"
    assert parsed["instrumentation"]["namespace"] == "cometbft"
    assert prometheus_listen_addr(text) == "127.0.0.1:23456"
    assert {k: v for k, v in parsed.items() if k != "instrumentation"} == \
        {k: v for k, v in before.items() if k != "instrumentation"}
    assert enable_prometheus(text, listen="127.0.0.1:23456") == text  # idempotent


@pytest.mark.parametrize("listen", ["", "127.0.0.1", "a b:1", ":0", ":70000", '":1"\nx="'])
def test_bad_listen_addresses_are_refused(listen):
    with pytest.raises(DriverError) as err:
        enable_prometheus('[instrumentation]\nprometheus = false\n'
                          'prometheus_listen_addr = ":26660"\nnamespace = "x"\n', listen=listen)
    assert err.value.code == "invalid_spec"


def test_a_config_without_the_section_is_refused_and_stand_in_homes_are_left_alone():
    with pytest.raises(DriverError) as err:
        instrumented({CONFIG_TOML: b'moniker = "n"\n'}, listen=":26660")
    assert err.value.code == "invalid_spec" and "[instrumentation]" in err.value.message
    stand_in = {"node.json": b"{}"}
    assert instrumented(stand_in, listen=":26660") is stand_in
    config = {CONFIG_TOML: b"anything"}
    assert instrumented(config, listen=None) is config  # no metrics port: as it was
