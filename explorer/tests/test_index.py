"""The explorer's own tx index against a real one-validator CometBFT network: what it holds
matches the chain, a repeated pass adds nothing, blocks above the index still appear in
search, a chain that went back is indexed again, other tenants' networks never appear, and
the search API keeps its documented shape."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from baas.testing import api_client_for
from deploy.choices import NetworkStatus, NodeHealth
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory
from explorer import indexer, selectors
from explorer.models import IndexCursor, IndexedTx
from explorer.tests.conftest import CHAIN_ID, DEADLINE
from ledger.client import LedgerClient, TxRejected

pytestmark = [pytest.mark.cometbft, pytest.mark.django_db]

ROW_KEYS = {"hash", "height", "index", "chaincode", "function", "signer", "code", "gas_used"}


def _network_on(url: str, **kwargs):
    kwargs.setdefault("chain_id", CHAIN_ID)
    network = NetworkFactory(validator_count=1, **kwargs)
    NodeFactory(network=network, rpc_url=url, health=NodeHealth.HEALTHY, index=0)
    return network


def _wait_height(client: LedgerClient, above: int) -> int:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        height = client.height()
        if height > above:
            return height
        time.sleep(0.2)
    raise AssertionError(f"no block above {above} in {DEADLINE}s")


def _write(client: LedgerClient, n: int, tag: str) -> list:
    return [client.submit("kv", "put", [f"{tag}-{i}", i], wait="commit") for i in range(n)]


def _chain_count(client: LedgerClient, query: str) -> tuple[int, set[str]]:
    hashes, page = set(), 1
    while True:
        res = client.rpc("tx_search", {"query": query, "page": str(page), "per_page": "100"})
        hashes |= {t["hash"].lower() for t in res["txs"]}
        if len(hashes) >= int(res["total_count"]) or not res["txs"]:
            return int(res["total_count"]), hashes
        page += 1


def test_the_index_holds_what_the_chain_holds_and_a_second_pass_adds_nothing(chain):
    url, client = chain
    signer = client.signer.public_key_hex
    sent = _write(client, 6, "idx")
    # A tx that fails when executed is in its block too (CometBFT's index never has it:
    # the ledger emits its ``tx`` event only on success).
    with pytest.raises(TxRejected) as failed:
        client.submit("kv", "delete", ["idx-no-such-key"], wait="commit")
    assert failed.value.stage == "FinalizeBlock"
    network = _network_on(url)
    done = indexer.index_to_latest(network)
    assert done.caught_up and done.added >= 7
    top = IndexCursor.objects.get(network=network).height
    assert top >= max(r.height for r in sent)
    for field, value in (("signer", signer), ("chaincode", "kv")):
        total, hashes = _chain_count(client, f"tx.{field}='{value}' AND tx.height<={top}")
        rows = IndexedTx.objects.filter(network=network, code=0, **{field: value})
        assert rows.count() == total and set(rows.values_list("hash", flat=True)) == hashes
    bad = IndexedTx.objects.get(network=network, hash=failed.value.tx_hash.lower())
    assert bad.code == failed.value.code != 0
    assert (bad.signer, bad.chaincode, bad.function) == (signer, "kv", "delete")
    row = IndexedTx.objects.get(network=network, hash=sent[-1].hash.lower())
    assert (row.chaincode, row.function, row.code, row.height) == ("kv", "put", 0,
                                                                   sent[-1].height)
    assert row.gas_used > 0 and row.block_time is not None

    # The task twice: nothing more (the blocks since are empty); the same blocks written
    # again (cursor moved back by hand) add no duplicate either.
    count = IndexedTx.objects.filter(network=network).count()
    assert indexer.index_all()["unreachable"] == 0
    assert indexer.index_all()["unreachable"] == 0
    assert IndexedTx.objects.filter(network=network).count() == count
    cursor = IndexCursor.objects.get(network=network)
    IndexCursor.objects.filter(network=network).update(height=0, block_hash="")
    indexer.index_to_latest(network)
    assert IndexedTx.objects.filter(network=network).count() == count
    assert IndexCursor.objects.get(network=network).height >= cursor.height


def test_blocks_above_the_index_still_appear_in_search(chain):
    url, client = chain
    network = _network_on(url)
    indexer.index_to_latest(network)
    indexed = IndexCursor.objects.get(network=network).height
    fresh = _write(client, 2, "fresh")
    owner = MembershipFactory(tenant=network.tenant, role="viewer")
    api = api_client_for(owner.user, owner.tenant)
    base = f"/api/v1/networks/{network.pk}/explorer/search/"
    found = api.get(base, {"q": "kv", "kind": "chaincode"}).json()
    assert found["source"] == "index" and found["indexed_height"] == indexed
    hashes = [r["hash"] for r in found["results"]]
    assert hashes[:2] == [fresh[1].hash.lower(), fresh[0].hash.lower()]  # newest first
    assert not IndexedTx.objects.filter(network=network, hash=fresh[0].hash.lower()).exists()
    assert len(hashes) == len(set(hashes)) <= selectors.SEARCH_LIMIT
    heights = [(r["height"], r["index"]) for r in found["results"]]
    assert heights == sorted(heights, reverse=True)
    # Once indexed, the same answer comes from the table.
    indexer.index_to_latest(network)
    again = api.get(base, {"q": "kv", "kind": "chaincode"}).json()
    assert [r["hash"] for r in again["results"]] == hashes
    assert again["indexed_height"] >= fresh[1].height


def test_the_api_answers_the_documented_shape_and_the_person_who_signed(chain):
    url, client = chain
    _write(client, 1, "shape")
    network = _network_on(url)
    indexer.index_to_latest(network)
    owner = MembershipFactory(tenant=network.tenant, role="viewer")
    api = api_client_for(owner.user, owner.tenant)
    base = f"/api/v1/networks/{network.pk}/explorer/search/"
    signer = IndexedTx.objects.filter(network=network).first().signer
    for params in ({"q": signer, "kind": "signer"}, {"q": signer}, {"q": "kv"}):
        res = api.get(base, params)
        assert res.status_code == 200, res.content
        body = res.json()
        assert set(body) == {"kind", "q", "results", "indexed_height", "source"}
        assert body["kind"] in ("signer", "chaincode") and body["results"]
        for row in body["results"]:
            assert set(row) == ROW_KEYS
            assert row["signer"]["public_key"] == signer and isinstance(row["code"], int)
    # Hash and height kinds keep their full rows.
    tx_hash = body["results"][0]["hash"]
    full = api.get(base, {"q": tx_hash, "kind": "hash"}).json()["results"][0]
    assert {"args", "events", "data", "log", "nonce"} <= set(full)
    assert api.get(base, {"q": "Not a name!"}).status_code == 400
    # The portal's search page lists the same rows.
    from django.test import Client

    page = Client()
    page.force_login(owner.user)
    html = page.get(f"/networks/{network.pk}/explorer/search/?q=kv&kind=chaincode")
    assert html.status_code == 200 and tx_hash[:14] in html.content.decode()
    assert 'id="search-source"' in html.content.decode()


def test_a_network_far_behind_its_index_is_searched_on_the_chain(chain, monkeypatch):
    url, client = chain
    _write(client, 1, "behind")
    network = _network_on(url)  # never indexed: the whole chain is above the cursor
    monkeypatch.setattr(selectors, "MAX_FRESH_BLOCKS", 2)
    _wait_height(client, selectors.MAX_FRESH_BLOCKS)
    found = selectors.search(network=network, tenant=network.tenant, q="kv",
                             kind="chaincode")
    assert found["source"] == "chain" and found["indexed_height"] == 0
    assert found["results"] and set(found["results"][0]) == ROW_KEYS


def test_a_chain_that_went_back_is_indexed_again(chain):
    url, client = chain
    _write(client, 1, "restore")
    network = _network_on(url)
    indexer.index_to_latest(network)
    real = IndexedTx.objects.filter(network=network).count()
    latest = client.height()
    # The index of a chain that has since gone back: far above, and a stale row up there.
    IndexCursor.objects.filter(network=network).update(height=latest + 1000,
                                                       block_hash="AB" * 32)
    IndexedTx.objects.create(network=network, height=latest + 500, index=0, hash="cd" * 32,
                             signer="ef" * 32, chaincode="kv", function="put")
    # Meanwhile search does not trust it.
    found = selectors.search(network=network, tenant=network.tenant, q="kv",
                             kind="chaincode")
    assert found["source"] == "chain" and "cd" * 32 not in [r["hash"] for r in found["results"]]
    # A node below the cursor may only be lagging: the pass skips, the index stays.
    done = indexer.index_network(network)
    assert not done.reset and IndexCursor.objects.get(network=network).height == latest + 1000
    assert IndexedTx.objects.filter(network=network).count() == real + 1

    # The chain at the cursor's height holds another block: it went back; index again.
    IndexedTx.objects.filter(network=network, height=latest + 500).delete()
    IndexCursor.objects.filter(network=network).update(height=latest, block_hash="AB" * 32)
    assert indexer.index_network(network).reset
    indexer.index_to_latest(network)
    assert IndexedTx.objects.filter(network=network).count() == real

    # Same height reached by another chain: the block at the cursor has another hash.
    IndexCursor.objects.filter(network=network).update(block_hash="AB" * 32)
    assert indexer.index_network(network).reset
    indexer.index_to_latest(network)
    assert IndexedTx.objects.filter(network=network).count() == real


def test_other_tenants_networks_never_appear_and_deleted_networks_lose_their_rows(chain):
    url, client = chain
    _write(client, 1, "iso")
    # Another organisation's network row on the same chain (a chain id is unique per row).
    mine, theirs = _network_on(url), _network_on(url, chain_id=CHAIN_ID + "-theirs")
    indexer.index_to_latest(mine)
    indexer.index_to_latest(theirs)
    stranger = "12" * 32
    IndexedTx.objects.create(network=theirs, height=1, index=0, hash="34" * 32,
                             signer=stranger, chaincode="kv", function="put")
    me = MembershipFactory(tenant=mine.tenant, role="viewer")
    api = api_client_for(me.user, me.tenant)
    res = api.get(f"/api/v1/networks/{mine.pk}/explorer/search/",
                  {"q": stranger, "kind": "signer"})
    assert res.status_code == 200 and res.json()["results"] == []
    found = api.get(f"/api/v1/networks/{mine.pk}/explorer/search/", {"q": "kv"}).json()
    assert "34" * 32 not in [r["hash"] for r in found["results"]]
    res = api.get(f"/api/v1/networks/{theirs.pk}/explorer/search/", {"q": "kv"})
    assert res.status_code == 404
    assert IndexedTx.objects.for_tenant(me.tenant).filter(network=theirs).count() == 0

    theirs.status = NetworkStatus.DELETED
    theirs.save(update_fields=["status"])
    indexer.index_all()
    assert not IndexedTx.objects.filter(network=theirs).exists()
    assert not IndexCursor.objects.filter(network=theirs).exists()
    assert IndexedTx.objects.filter(network=mine).exists()
    mine.delete()  # a removed network takes its rows with it
    assert not IndexedTx.objects.exists()


def test_an_unreachable_network_is_skipped_and_a_busy_lock_skips_the_pass(chain):
    url, _client = chain
    dead = NetworkFactory()
    NodeFactory(network=dead, rpc_url="http://127.0.0.1:9", health=NodeHealth.UNHEALTHY)
    live = _network_on(url)
    counts = indexer.index_all()
    assert counts["unreachable"] == 1 and counts["indexed"] == 1
    assert IndexCursor.objects.get(network=live).height > 0
    assert cache.add(indexer.LOCK_KEY, "someone", timeout=30)
    try:
        assert indexer.index_all() == {"skipped_busy": 1}
    finally:
        cache.delete(indexer.LOCK_KEY)


def test_one_pass_reads_at_most_the_configured_blocks(chain, settings):
    url, client = chain
    _wait_height(client, 10)
    network = _network_on(url)
    settings.BAAS_EXPLORER_INDEX_BLOCKS = 3
    done = indexer.index_network(network)
    assert done.height == 3 and not done.caught_up
    assert indexer.index_network(network).height == 6
