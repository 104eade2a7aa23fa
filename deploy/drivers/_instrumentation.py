"""CometBFT's own Prometheus metrics: the ``[instrumentation]`` section of a node's config.

Every driver that writes a node's ``config.toml`` turns it on when the node's planned
address has a metrics port (``NodeAddress.metrics_port``): ``prometheus = true``, the
listener on that port, namespace ``cometbft`` (so every metric is ``cometbft_...``). A
node planned before metrics existed has no metrics port and keeps its config as it is.

CometBFT's listener is plain HTTP over TCP (no Unix socket): the local driver binds it to
loopback, containers and pods bind it inside their own network namespace.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from deploy.drivers.base import DriverError

CONFIG_TOML = "cometbft/config/config.toml"  # in the node home, as ledger.network writes it
NAMESPACE = "cometbft"
METRICS_PATH = "/metrics"


def _set(text: str, section: str, key: str, rendered: str) -> str:
    header = re.search(rf"^\[{re.escape(section)}\]\s*$", text, re.MULTILINE)
    if header is None:
        raise DriverError("invalid_spec", f"{CONFIG_TOML} has no [{section}] section")
    start = header.end()
    following = re.search(r"^\[", text[start:], re.MULTILINE)
    end = start + following.start() if following else len(text)
    body, found = re.subn(rf"^(\s*{re.escape(key)}\s*=\s*).*$",
                          lambda m: f"{m.group(1)}{rendered}", text[start:end],
                          count=1, flags=re.MULTILINE)
    if not found:
        raise DriverError("invalid_spec", f"{CONFIG_TOML} has no {key} in [{section}]")
    return text[:start] + body + text[end:]


def enable_prometheus(config_toml: str, *, listen: str) -> str:
    """``config_toml`` with CometBFT's Prometheus listener on ``listen`` (``host:port`` or
    ``:port``). Idempotent: applying it to its own result changes nothing."""
    if not re.fullmatch(r"[A-Za-z0-9.\-]*:\d{1,5}", listen) \
            or not 0 < int(listen.rsplit(":", 1)[1]) < 65536:
        raise DriverError("invalid_spec", f"metrics listen address {listen!r} is not host:port")
    text = _set(config_toml, "instrumentation", "prometheus", "true")
    text = _set(text, "instrumentation", "prometheus_listen_addr", f'"{listen}"')
    text = _set(text, "instrumentation", "namespace", f'"{NAMESPACE}"')
    try:
        tomllib.loads(text)  # never hand a node a config CometBFT cannot parse
    except tomllib.TOMLDecodeError as exc:
        raise DriverError("invalid_spec", f"{CONFIG_TOML} does not parse: {exc}") from exc
    return text


def instrumented(files: dict[Any, bytes], *, listen: str | None) -> dict[Any, bytes]:
    """The home files with metrics on (``listen`` given) in their ``config.toml``. A home
    without a CometBFT config (a test's stand-in node) or ``listen`` None is unchanged."""
    if not listen:
        return files
    key = next((rel for rel in files if str(rel) == CONFIG_TOML), None)
    if key is None:
        return files
    text = enable_prometheus(files[key].decode("utf-8"), listen=listen)
    return {**files, key: text.encode("utf-8")}


def prometheus_listen_addr(config_toml: bytes | str) -> str | None:
    """Where a config has CometBFT serve its metrics, or None when they are off."""
    try:
        data = tomllib.loads(config_toml.decode("utf-8") if isinstance(config_toml, bytes)
                             else config_toml)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    section = data.get("instrumentation") or {}
    if section.get("prometheus") is not True:
        return None
    return str(section.get("prometheus_listen_addr") or "") or None
