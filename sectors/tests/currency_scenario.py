"""The local currency's main workflow, written once for the end-to-end test (through the
platform on a real network) and the benchmark (straight to a network's nodes).

``city(function, **args)`` sends as the city organisation; ``key_tx(signer, function,
**args)`` as a person's own key; ``read(function, **args)`` queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.tx import Signer


def run(city: Callable[..., Any], key_tx: Callable[..., Any],
        read: Callable[..., Any]) -> None:
    resident, merchant = Signer.generate(), Signer.generate()
    city("enroll_resident", public_key=resident.public_key_hex)
    city("enroll_merchant", public_key=merchant.public_key_hex, name="Mangwon Bakery",
         category="food")
    city("mint", to=resident.public_key_hex, amount=50000)
    paid = key_tx(resident, "pay", merchant=merchant.public_key_hex, amount=12000)
    assert paid["code"] == 0, paid
    assert read("balance", public_key=merchant.public_key_hex)["balance"] == 12000
    redeemed = key_tx(merchant, "redeem", amount=10000)
    assert redeemed["code"] == 0, redeemed
    supply = read("supply")
    assert supply["supply"] == supply["minted"] - supply["burned"], supply
    assert supply["burned"] == 10000, supply
    resident_balance = read("balance", public_key=resident.public_key_hex)
    assert resident_balance["balance"] >= 50000 - 12000, resident_balance


def bench_setup(city: Callable[..., Any], key_tx: Callable[..., Any],
                count: int) -> list[tuple[Signer, dict[str, Any]]]:
    """Residents with enough units for ``count`` payments of 1 to one merchant: the
    (payer, args) of each payment."""
    residents = [Signer.generate() for _ in range(8)]
    merchant = Signer.generate()
    city("enroll_merchant", public_key=merchant.public_key_hex, name="Bench shop",
         category="food")
    each = count // len(residents) + 1
    for resident in residents:
        city("enroll_resident", public_key=resident.public_key_hex)
        city("mint", to=resident.public_key_hex, amount=each)
    return [(residents[i % len(residents)], {"merchant": merchant.public_key_hex, "amount": 1})
            for i in range(count)]
