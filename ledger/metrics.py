"""What this node's chaincode host did, in Prometheus' format (``prometheus_client``).

Kept in the node's memory and answered by the query path ``/metrics``, so they reach the
control plane over the same RPC every driver already exposes (a Unix socket locally, the
container's or pod's port otherwise) and never need a port of their own. Nothing here is
part of the state or the app hash: times differ from node to node by nature.

Label values are bounded: ``chaincode`` is the name of an installed or system chaincode
(anything else counts as ``none``, so a client sending names at random adds no series),
``code`` a name of the fixed ``ledger.errors.Code`` enum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger.errors import Code

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _StateSize(Collector):
    """Keys and bytes of the latest committed state, read when scraped."""

    def __init__(self, size: Callable[[], tuple[int, int]]) -> None:
        self._size = size

    def collect(self) -> Iterator[Any]:
        keys, size = self._size()
        yield GaugeMetricFamily("ledger_state_keys", "Keys in the latest committed state.",
                                value=keys)
        yield GaugeMetricFamily("ledger_state_bytes",
                                "Bytes of keys and values in the latest committed state.",
                                value=size)


class HostMetrics:
    def __init__(self, state_size: Callable[[], tuple[int, int]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.txs = Counter("ledger_txs", "Transactions executed in blocks, by chaincode and "
                           "result code.", ["chaincode", "code"], registry=self.registry)
        self.gas = Counter("ledger_gas_used", "Steps (gas) used by transactions, by chaincode.",
                           ["chaincode"], registry=self.registry)
        self.tx_seconds = Histogram("ledger_tx_seconds", "Time to execute one transaction.",
                                    ["chaincode"], buckets=_SECONDS, registry=self.registry)
        self.block_seconds = Histogram(
            "ledger_block_seconds", "Time to execute one block's transactions "
            "(FinalizeBlock) and commit it.", buckets=_SECONDS, registry=self.registry)
        self.height = Gauge("ledger_height", "Latest committed height.", registry=self.registry)
        self.registry.register(_StateSize(state_size))

    def tx(self, chaincode: str, code: int, gas: int, seconds: float) -> None:
        try:
            code_name = Code(code).name.lower()
        except ValueError:
            code_name = "other"
        self.txs.labels(chaincode, code_name).inc()
        if gas:
            self.gas.labels(chaincode).inc(gas)
        self.tx_seconds.labels(chaincode).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
