"""The ``/keys`` query: committed keys under a prefix, paged, at a height."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.errors import Code
from ledger.testing import Chain, start_chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = start_chain(tmp_path / "app")
    yield c
    c.app.close()


def _keys(chain: Chain, **request) -> dict:
    result = chain.app.query(path="/keys", data=json.dumps(request).encode(),
                             height=request.pop("height", 0) if "height" in request else 0)
    assert result.code == 0, result.log
    return json.loads(result.value)


def test_keys_under_a_prefix_in_order_paged_and_at_a_height(chain: Chain) -> None:
    chain.block(*[chain.tx("admin1", "kv", "put", [f"item-{i}", i]) for i in range(5)],
                chain.tx("admin1", "kv", "put", ["other", 0]))
    chain.block(chain.tx("admin1", "kv", "delete", ["item-0"]))
    page = _keys(chain, prefix=b"kv/item-".hex(), limit=3)
    keys = [bytes.fromhex(k) for k, _ in page["items"]]
    assert keys == [b"kv/item-1", b"kv/item-2", b"kv/item-3"] and page["more"]
    assert json.loads(bytes.fromhex(page["items"][0][1])) == 1
    rest = _keys(chain, prefix=b"kv/item-".hex(), after=page["items"][-1][0])
    assert [bytes.fromhex(k) for k, _ in rest["items"]] == [b"kv/item-4"]
    assert not rest["more"]
    # At height 1 the deleted key is still there.
    old = chain.app.query(path="/keys", data=json.dumps({"prefix": b"kv/item-".hex()})
                          .encode(), height=1)
    assert len(json.loads(old.value)["items"]) == 5


def test_bad_keys_queries_are_refused(chain: Chain) -> None:
    for data in (b"{", b"[]", json.dumps({"prefix": ""}).encode(),
                 json.dumps({"prefix": "zz"}).encode()):
        assert chain.app.query(path="/keys", data=data).code == Code.BAD_QUERY
