"""The node's own figures (query path /metrics), read with Prometheus' text parser."""

from __future__ import annotations

import secrets

from prometheus_client.parser import text_string_to_metric_families

from ledger.testing import start_chain


def _metrics(chain) -> dict[tuple[str, tuple], float]:
    result = chain.app.query(path="/metrics", data=b"")
    assert result.code == 0, result.log
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(result.value.decode())
            for s in family.samples}


def test_transactions_gas_blocks_and_state_are_counted(tmp_path):
    chain = start_chain(tmp_path)
    chain.block(chain.tx("admin1", "kv", "put", ["a", 1]),
                chain.tx("admin1", "kv", "put", ["b", 2]),
                chain.tx("admin1", "no_such_cc", "put", ["c", 3]))
    figures = _metrics(chain)
    assert figures[("ledger_txs_total", (("chaincode", "kv"), ("code", "ok")))] == 2
    assert figures[("ledger_txs_total",
                    (("chaincode", "none"), ("code", "unknown_chaincode")))] == 1
    assert figures[("ledger_gas_used_total", (("chaincode", "kv"),))] > 0
    assert figures[("ledger_tx_seconds_count", (("chaincode", "kv"),))] == 2
    assert figures[("ledger_block_seconds_count", ())] == 1
    assert figures[("ledger_height", ())] == chain.height
    keys = figures[("ledger_state_keys", ())]
    chain.block(chain.tx("admin1", "kv", "put", ["c", 3]))
    assert _metrics(chain)[("ledger_state_keys", ())] == keys + 1


def test_random_chaincode_names_make_no_new_series(tmp_path):
    chain = start_chain(tmp_path)
    chain.block(*[chain.tx("admin1", f"x{secrets.token_hex(4)}", "f", []) for _ in range(20)])
    names = {dict(labels).get("chaincode") for (name, labels) in _metrics(chain)
             if name == "ledger_txs_total"}
    assert names == {"none"}


def test_metrics_never_touch_the_app_hash(tmp_path):
    one, two = start_chain(tmp_path / "one"), start_chain(tmp_path / "two")
    for chain in (one, two):
        chain.block(chain.tx("admin1", "kv", "put", ["a", 1]))
    _metrics(one)
    _metrics(one)
    assert one.app.store.app_hash == two.app.store.app_hash
