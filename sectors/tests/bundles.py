"""A small valid bundle for the tests: donations with two organisation roles and a key role.

``write_bundle(path)`` writes it; ``manifest=``/``contract=`` replace either file, and
``edit`` functions change the manifest text (``str.replace`` pairs) before writing.
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = '''\
name = "donations"
version = "1.0.0"
sector = "donation"
title = { en = "Donation tracking", ko = "기부금 추적" }
description = { en = "Track donations.", ko = "기부금을 추적합니다." }

[[roles]]
id = "charity"
holder = "organisation"
title = { en = "Charity", ko = "자선 단체" }

[[roles]]
id = "auditor"
holder = "organisation"
title = { en = "Auditor", ko = "감사" }

[[roles]]
id = "donor"
holder = "key"
title = { en = "Donor", ko = "기부자" }

[[functions]]
name = "create_campaign"
kind = "write"
roles = ["charity"]
title = { en = "Create a campaign", ko = "캠페인 만들기" }
keys = ["campaign/"]
transition = { entity = "campaign", from = [], to = "open" }
[functions.args]
type = "object"
additionalProperties = false
required = ["id", "goal"]
properties = { id = { type = "string" }, goal = { type = "integer", minimum = 1 } }

[[functions]]
name = "donate"
kind = "write"
roles = ["anyone"]
title = { en = "Donate", ko = "기부하기" }
keys = ["campaign/"]
public = true
[functions.args]
type = "object"
required = ["campaign", "amount"]
properties.campaign = { type = "string" }
properties.amount = { type = "integer", minimum = 1 }

[[functions]]
name = "close_campaign"
kind = "write"
roles = ["auditor"]
title = { en = "Close", ko = "닫기" }
keys = ["campaign/"]
args = { type = "object", required = ["id"], properties = { id = { type = "string" } } }

[[functions]]
name = "get_campaign"
kind = "read"
roles = ["anyone"]
title = { en = "Get", ko = "조회" }
args = { type = "object", required = ["id"], properties = { id = { type = "string" } } }

[[functions]]
name = "list_campaigns"
kind = "read"
roles = ["anyone"]
title = { en = "List", ko = "목록" }
args = { type = "object" }

[[functions]]
name = "roles_of"
kind = "read"
roles = ["anyone"]
title = { en = "Roles", ko = "역할" }
args = { type = "object" }

[workflow]
entity = "campaign"
get = "get_campaign"
list = "list_campaigns"
states = [
  { id = "open", title = { en = "Open", ko = "모금 중" } },
  { id = "closed", title = { en = "Closed", ko = "종료" } },
]

[init]
function = "init"
args = { currency = "KRW" }

[upgrade]
approval = "owner"

[[samples]]
function = "create_campaign"
as = "charity"
args = { id = "c1", goal = 1000 }
expect = "ok"

[[samples]]
function = "create_campaign"
as = "auditor"
args = { id = "c2", goal = 1000 }
expect = "refused"

[[samples]]
function = "donate"
as = "key:alice"
args = { campaign = "c1", amount = 10 }
expect = "ok"

[[samples]]
function = "close_campaign"
as = "auditor"
args = { id = "c1" }
expect = "ok"

[[samples]]
function = "get_campaign"
as = "key:alice"
args = { id = "c1" }
expect = "ok"
'''

CONTRACT = '''\
# Donation tracking: charities open campaigns, anyone donates, auditors close them.


def config(ctx):
    return ctx.get("config")


def require(ctx, role):
    if ctx.caller.org not in config(ctx)["roles"].get(role, []):
        raise ContractError(f"unauthorized: caller is not a {role}")


@write
def init(ctx, roles, currency="KRW"):
    if ctx.has("config"):
        raise ContractError("already initialised")
    ctx.put("config", {"roles": roles, "currency": currency})


@write
def create_campaign(ctx, id, goal):
    require(ctx, "charity")
    if ctx.has("campaign/" + id):
        raise ContractError("campaign exists")
    ctx.put(f"campaign/{id}", {"id": id, "goal": goal, "raised": 0, "state": "open"})
    ctx.emit("campaign_created", id=id)


@write
def donate(ctx, campaign, amount):
    c = ctx.get(f"campaign/{campaign}")
    if c is None or c["state"] != "open":
        raise ContractError("no open campaign")
    c["raised"] = c["raised"] + amount
    ctx.put(f"campaign/{campaign}", c)
    ctx.emit("donated", id=campaign, amount=amount)


@write
def close_campaign(ctx, id):
    require(ctx, "auditor")
    c = ctx.get(f"campaign/{id}")
    if c is None:
        raise ContractError("no campaign")
    c["state"] = "closed"
    ctx.put(f"campaign/{id}", c)
    ctx.emit("campaign_closed", id=id)


@read
def get_campaign(ctx, id):
    return ctx.get(f"campaign/{id}")


@read
def list_campaigns(ctx):
    return [v for k, v in ctx.range("campaign/", "campaign0", 100)]


@read
def roles_of(ctx, org=None, public_key=None):
    roles = config(ctx)["roles"]
    return [r for r in roles if org in roles[r]]
'''

TEST = "def test_nothing():\n    pass\n"


def write_bundle(path: Path, *, manifest: str | None = None, contract: str | None = None,
                 replace: list[tuple[str, str]] | None = None,
                 contract_replace: list[tuple[str, str]] | None = None) -> Path:
    """Write the bundle under ``path`` and return it; ``replace`` edits the manifest text,
    ``contract_replace`` the contract's, each (old, new) pair required to match."""
    manifest = MANIFEST if manifest is None else manifest
    contract = CONTRACT if contract is None else contract
    for old, new in replace or []:
        assert old in manifest, old
        manifest = manifest.replace(old, new, 1)
    for old, new in contract_replace or []:
        assert old in contract, old
        contract = contract.replace(old, new, 1)
    path.mkdir(parents=True, exist_ok=True)
    (path / "tests").mkdir(exist_ok=True)
    (path / "manifest.toml").write_text(manifest, "utf-8")
    (path / "contract.py").write_text(contract, "utf-8")
    (path / "tests" / "test_contract.py").write_text(TEST, "utf-8")
    return path
