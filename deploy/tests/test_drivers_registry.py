"""The driver registry and the pieces of the interface every driver shares."""

from __future__ import annotations

import pytest

from deploy.drivers import AVAILABLE_DRIVERS, Driver, DriverError, get_driver
from deploy.drivers._files import tail_lines


@pytest.mark.parametrize("name", ["", "Local", "podman", "../local"])
def test_unknown_driver_names_are_refused(name):
    with pytest.raises(DriverError) as err:
        get_driver(name)
    assert err.value.code == "driver_unknown"
    assert "local" in err.value.message


def test_kubernetes_is_available_and_needs_no_cluster_to_be_listed(monkeypatch, settings):
    from deploy.drivers.kubernetes import KubernetesDriver

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    settings.BAAS_KUBE_KUBECONFIG = None
    assert "kubernetes" in AVAILABLE_DRIVERS
    driver = get_driver("kubernetes", install_id="registry-test")
    assert isinstance(driver, KubernetesDriver)
    # no kubeconfig and not in a pod: the first call says so, not the constructor
    with pytest.raises(DriverError) as err:
        driver.list_owned(install_id="registry-test")
    assert err.value.code == "driver_unavailable" and "BAAS_KUBE_KUBECONFIG" in err.value.message


def test_available_drivers_implement_the_interface(tmp_path):
    for name in AVAILABLE_DRIVERS:
        options = {"nodes_dir": tmp_path} if name == "local" else {}
        driver = get_driver(name, **options)  # docker: no engine call until first use
        assert isinstance(driver, Driver) and driver.name == name


def test_driver_error_keeps_code_and_message():
    err = DriverError("image_missing", "build it")
    assert (err.code, err.message, str(err)) == (
        "image_missing",
        "build it",
        "image_missing: build it",
    )


def test_tail_lines_reads_only_the_end(tmp_path):
    log = tmp_path / "node.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert tail_lines(log, 3, block=64) == "line 99997\nline 99998\nline 99999\n"
    assert tail_lines(log, 0) == ""
    short = tmp_path / "short.log"
    short.write_text("only\nno newline")
    assert tail_lines(short, 10) == "only\nno newline"
