"""Test helpers: drive a LedgerApp block by block like CometBFT would (no network).

Used by the application's unit tests; importable by anyone who wants a real in-process
chain (``start_chain(tmp_path)``) without CometBFT.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.app import BlockResult, LedgerApp, QueryResult, ValidatorUpdate
from ledger.genesis import make_app_state, member, organisation
from ledger.tx import Signer, build_tx

CHAIN_ID = "unit-chain"
T0 = 1_700_000_000 * 10**9  # genesis time (ns)
BLOCK_NS = 10**9


class Chain:
    """Drives a LedgerApp like CometBFT would: finalize + commit, one block at a time."""

    def __init__(self, app: LedgerApp, keys: dict[str, Signer]) -> None:
        self.app = app
        self.keys = keys
        self.height = 0

    @property
    def time_ns(self) -> int:
        return T0 + self.height * BLOCK_NS

    def tx(self, signer: str | Signer, chaincode: str, function: str, args: Any = None,
           **kwargs: Any) -> bytes:
        key = self.keys[signer] if isinstance(signer, str) else signer
        kwargs.setdefault("time_ms", (self.time_ns + BLOCK_NS) // 10**6)
        return build_tx(signer=key, chain_id=CHAIN_ID, chaincode=chaincode,
                        function=function, args=[] if args is None else args, **kwargs)

    def proof(self, signer: Signer, org: str) -> str:
        """The key's proof of possession for joining ``org`` (add_member / add_org)."""
        from ledger.tx import membership_proof

        return membership_proof(signer, CHAIN_ID, org)

    def block(self, *txs: bytes) -> BlockResult:
        self.height += 1
        result = self.app.finalize_block(height=self.height, time_ns=self.time_ns,
                                         proposer=b"\x00" * 20, txs=list(txs))
        self.app.commit()
        return result

    def call(self, chaincode: str, function: str, args: Any = None,
             height: int = 0) -> QueryResult:
        data = json.dumps({"chaincode": chaincode, "function": function,
                           "args": [] if args is None else args}).encode()
        return self.app.query(path="/call", data=data, height=height)

    def value(self, chaincode: str, function: str, args: Any = None) -> Any:
        result = self.call(chaincode, function, args)
        assert result.code == 0, result.log
        return json.loads(result.value)


def seeded(name: str) -> Signer:
    return Signer.from_private_bytes(name.encode().ljust(32, b"."))


def start_chain(path: Path, *, min_organisations: int = 1, open_access: bool = False,
                validators: list[ValidatorUpdate] | None = None,
                validator_org: str | None = None) -> Chain:
    keys = {n: seeded(n) for n in ("admin1", "admin2", "admin3", "user1", "outsider")}
    orgs = [
        organisation("org1", "Org One", [member("admin", keys["admin1"].public_key_hex,
                                                ["admin"]),
                                         member("user", keys["user1"].public_key_hex)]),
        organisation("org2", "Org Two", [member("admin", keys["admin2"].public_key_hex,
                                                ["admin"])]),
        organisation("org3", "Org Three", [member("admin", keys["admin3"].public_key_hex,
                                                  ["admin"])]),
    ]
    box: list[Chain] = []
    # check_tx compares tx times with "now": make now the chain's next block time.
    app = LedgerApp(path, clock=lambda: (box[0].time_ns + BLOCK_NS) / 1e9 if box else T0 / 1e9)
    app.init_chain(chain_id=CHAIN_ID, initial_height=1, time_ns=T0,
                   validators=validators or [],
                   app_state=make_app_state(organisations=orgs,
                                            min_organisations=min_organisations,
                                            open_access=open_access,
                                            validator_org=validator_org))
    box.append(Chain(app, keys))
    return box[0]


def measure(*, txs_per_block: int = 2000, blocks: int = 3) -> list[tuple[float, float]]:
    """In-process throughput of kv.put: (check_tx tx/s, finalize+commit tx/s) per block."""
    import tempfile
    import time

    figures = []
    with tempfile.TemporaryDirectory(prefix="ledger-app-") as tmp:
        chain = start_chain(Path(tmp) / "app")
        for b in range(blocks):
            txs = [chain.tx("admin1", "kv", "put", [f"key{b}-{i}", f"value{i}"])
                   for i in range(txs_per_block)]
            began = time.perf_counter()
            for raw in txs:
                if chain.app.check_tx(raw).code:
                    raise RuntimeError("check_tx refused a valid tx")
            checked = time.perf_counter()
            result = chain.block(*txs)
            done = time.perf_counter()
            if any(r.code for r in result.tx_results):
                raise RuntimeError("a valid tx failed in finalize_block")
            figures.append((txs_per_block / (checked - began),
                            txs_per_block / (done - checked)))
        chain.app.close()
    return figures


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="In-process LedgerApp throughput (kv.put)")
    parser.add_argument("--txs", type=int, default=2000, help="transactions per block")
    parser.add_argument("--blocks", type=int, default=3)
    ns = parser.parse_args()
    for i, (check, finalize) in enumerate(measure(txs_per_block=ns.txs, blocks=ns.blocks)):
        print(f"block {i + 1}: check_tx {check:.0f} tx/s, finalize+commit {finalize:.0f} tx/s")
