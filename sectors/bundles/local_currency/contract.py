# ruff: noqa: F821 - read, write and ContractError are sandbox builtins
# Local digital currency: the city mints to enrolled residents (within a per-period purchase
# limit), residents pay enrolled merchants of allowed categories (with cashback minted to
# the payer), merchants redeem (redemption burns). Minted units expire: a resident's balance
# is a list of lots [amount, expires]; an expired lot cannot be spent and is burned the next
# time the account is written (or by reclaim_expired). See docs/templates/local-currency.md.
#
# This file is chaincode source (run in the sandbox), not a module the node imports.
#
# Keys:
#   config               {"roles": {"city": [org, ...]}, "unit": "KRW"}
#   rules                {mint_limit, period_seconds, cashback_bps, expiry_seconds, categories}
#   stats                {"minted": n, "burned": n}: supply = minted - burned
#   resident/<key>       {public_key, lots: [[amount, expires_ns], ...] by expiry, period,
#                         period_minted, enrolled}
#   merchant/<key>       {public_key, name, category, state, balance, enrolled}

ORG_ROLES = ["city"]
MAX_AMOUNT = 10**15
MAX_LOTS = 32
MAX_CATEGORIES = 32
MAX_SECONDS = 100 * 365 * 86400
SECOND = 10**9
BPS = 10000
# At most 20 %: cashback is new money, and a resident and a merchant working together could
# otherwise mint without end (at 100 % every payment refunds itself). With a rate r < 1,
# all the cashback a purchase can ever earn is at most r / (1 - r) of it (25 % here).
MAX_CASHBACK_BPS = 2000
MAX_NAME = 120
HEX = "0123456789abcdef"
CATEGORY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
SCAN = 200  # accounts of each kind that supply() adds up (the literal limit below)


# -- checks ---------------------------------------------------------------------------------
def deny(ctx, needed):
    # Fails the call with UNAUTHORIZED: a ledger role is at most 64 characters long, so no
    # caller holds this one; the log shows its first 64 characters.
    text = needed + " (a role of the " + ctx.chaincode + " contract)"
    ctx.require_role(text + "." * max(65 - len(text), 0))


def config(ctx):
    cfg = ctx.get("config")
    if cfg is None:
        raise ContractError("the contract is not initialised: call init first")
    return cfg


def require_city(ctx):
    cfg = config(ctx)
    org = ctx.caller.org
    if not org or org not in cfg["roles"]["city"]:
        deny(ctx, "city")
    return cfg


def check_int(value, what, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(what + " must be an integer")
    if value < lo or value > hi:
        raise ContractError(what + " must be between " + str(lo) + " and " + str(hi))
    return value


def check_amount(value):
    return check_int(value, "amount", 1, MAX_AMOUNT)


def check_key(value, what):
    if not isinstance(value, str) or len(value) != 64:
        raise ContractError(what + " must be 64 lowercase hex characters")
    for c in value:
        if c not in HEX:
            raise ContractError(what + " must be 64 lowercase hex characters")
    return value


def check_category(value):
    if not isinstance(value, str) or not 0 < len(value) <= 32:
        raise ContractError("a category is 1..32 characters of a-z, 0-9 and _")
    for c in value:
        if c not in CATEGORY_CHARS:
            raise ContractError("a category is 1..32 characters of a-z, 0-9 and _")
    return value


def check_rules(mint_limit, period_seconds, cashback_bps, expiry_seconds, categories):
    check_int(mint_limit, "mint_limit", 1, MAX_AMOUNT)
    check_int(period_seconds, "period_seconds", 1, MAX_SECONDS)
    check_int(cashback_bps, "cashback_bps", 0, MAX_CASHBACK_BPS)
    check_int(expiry_seconds, "expiry_seconds", 1, MAX_SECONDS)
    if not isinstance(categories, list) or len(categories) > MAX_CATEGORIES:
        raise ContractError("categories must be a list of at most " + str(MAX_CATEGORIES))
    seen = {}
    for c in categories:
        check_category(c)
        if c in seen:
            raise ContractError("category " + c + " is listed twice")
        seen[c] = True
    return {"mint_limit": mint_limit, "period_seconds": period_seconds,
            "cashback_bps": cashback_bps, "expiry_seconds": expiry_seconds,
            "categories": categories}


def resident_of(ctx, public_key):
    acct = ctx.get("resident/" + public_key)
    if acct is None:
        raise ContractError("no such resident: " + public_key)
    return acct


def merchant_of(ctx, public_key):
    m = ctx.get("merchant/" + public_key)
    if m is None:
        raise ContractError("no such merchant: " + public_key)
    return m


# -- lots -----------------------------------------------------------------------------------
def split_lots(lots, now):
    """(live lots, expired amount): a lot is live while now < expires."""
    live = []
    expired = 0
    for lot in lots:
        if lot[1] > now:
            live.append(lot)
        else:
            expired += lot[0]
    return live, expired


def lots_total(lots):
    total = 0
    for lot in lots:
        total += lot[0]
    return total


def add_lot(lots, amount, expires):
    """Insert [amount, expires] in expiry order, merging a lot with the same expiry; past
    MAX_LOTS the two latest lots merge into one with the later expiry (never earlier)."""
    i = 0
    while i < len(lots) and lots[i][1] < expires:
        i += 1
    if i < len(lots) and lots[i][1] == expires:
        lots[i] = [lots[i][0] + amount, expires]
    else:
        lots.insert(i, [amount, expires])
    if len(lots) > MAX_LOTS:
        last = lots.pop()
        lots[-1] = [lots[-1][0] + last[0], last[1]]
    return lots


def sweep(ctx, acct, stats):
    """Burn the account's expired lots (they cannot be spent); returns the amount burned."""
    live, expired = split_lots(acct["lots"], ctx.block_time)
    if expired:
        acct["lots"] = live
        stats["burned"] = stats["burned"] + expired
        ctx.emit("expired", id=acct["public_key"], account=acct["public_key"], amount=expired)
    return expired


def mint_lot(ctx, acct, stats, rules, amount, reason):
    expires = ctx.block_time + rules["expiry_seconds"] * SECOND
    add_lot(acct["lots"], amount, expires)
    stats["minted"] = stats["minted"] + amount
    ctx.emit("minted", id=acct["public_key"], to=acct["public_key"], amount=amount,
             reason=reason, expires=expires)
    return expires


# -- setup and rules ------------------------------------------------------------------------
@write
def init(ctx, roles, unit="KRW", mint_limit=500000, period_seconds=2592000, cashback_bps=0,
         expiry_seconds=157680000, categories=None):
    if not ctx.caller.has_role("admin"):
        deny(ctx, "network admin")
    if ctx.has("config"):
        raise ContractError("the contract is already initialised")
    if not isinstance(roles, dict):
        raise ContractError("roles must be an object {role: [organisation, ...]}")
    for role in roles:
        if role not in ORG_ROLES:
            raise ContractError("unknown organisation role: " + str(role)[:32])
    orgs = roles.get("city", [])
    if not isinstance(orgs, list) or not 0 < len(orgs) <= 32:
        raise ContractError("roles.city must list the organisations that run the currency")
    for org in orgs:
        if not isinstance(org, str) or not 0 < len(org) <= 64:
            raise ContractError("roles.city must be a list of organisation ids")
    if not isinstance(unit, str) or not 0 < len(unit) <= 16:
        raise ContractError("unit must be a short name such as KRW")
    if categories is None:
        categories = ["food", "retail", "education", "health", "culture"]
    rules = check_rules(mint_limit, period_seconds, cashback_bps, expiry_seconds, categories)
    ctx.put("config", {"roles": {"city": orgs}, "unit": unit})
    ctx.put("rules", rules)
    ctx.put("stats", {"minted": 0, "burned": 0})
    ctx.emit("initialised", id=ctx.chaincode, by=ctx.caller.org or "")
    return {"roles": {"city": orgs}, "unit": unit, "rules": rules}


@write
def set_rules(ctx, mint_limit, period_seconds, cashback_bps, expiry_seconds, categories):
    require_city(ctx)
    rules = check_rules(mint_limit, period_seconds, cashback_bps, expiry_seconds, categories)
    ctx.put("rules", rules)
    ctx.emit("rules_set", id="rules", by=ctx.caller.org, mint_limit=mint_limit,
             period_seconds=period_seconds, cashback_bps=cashback_bps,
             expiry_seconds=expiry_seconds, categories=",".join(categories))
    return rules


# -- enrolment ------------------------------------------------------------------------------
@write
def enroll_resident(ctx, public_key):
    require_city(ctx)
    check_key(public_key, "public_key")
    if ctx.has("resident/" + public_key) or ctx.has("merchant/" + public_key):
        raise ContractError("this key is already enrolled")
    acct = {"public_key": public_key, "lots": [], "period": None, "period_minted": 0,
            "enrolled": ctx.block_time}
    ctx.put("resident/" + public_key, acct)
    ctx.emit("resident_enrolled", id=public_key, by=ctx.caller.org)
    return acct


@write
def enroll_merchant(ctx, public_key, name, category):
    require_city(ctx)
    check_key(public_key, "public_key")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise ContractError("name must be a string of 1.." + str(MAX_NAME) + " characters")
    check_category(category)
    if ctx.has("resident/" + public_key) or ctx.has("merchant/" + public_key):
        raise ContractError("this key is already enrolled")
    m = {"public_key": public_key, "id": public_key, "name": name, "category": category,
         "state": "active", "balance": 0, "enrolled": ctx.block_time}
    ctx.put("merchant/" + public_key, m)
    ctx.emit("merchant_enrolled", id=public_key, by=ctx.caller.org, category=category)
    return m


@write
def suspend_merchant(ctx, id):
    require_city(ctx)
    check_key(id, "merchant")
    m = merchant_of(ctx, id)
    if m["state"] != "active":
        raise ContractError("merchant is already suspended")
    m["state"] = "suspended"
    ctx.put("merchant/" + id, m)
    ctx.emit("merchant_suspended", id=id, by=ctx.caller.org)
    return m


@write
def reinstate_merchant(ctx, id):
    require_city(ctx)
    check_key(id, "merchant")
    m = merchant_of(ctx, id)
    if m["state"] != "suspended":
        raise ContractError("merchant is not suspended")
    m["state"] = "active"
    ctx.put("merchant/" + id, m)
    ctx.emit("merchant_reinstated", id=id, by=ctx.caller.org)
    return m


# -- money ----------------------------------------------------------------------------------
@write
def mint(ctx, to, amount):
    require_city(ctx)
    check_key(to, "to")
    check_amount(amount)
    acct = resident_of(ctx, to)
    rules = ctx.get("rules")
    stats = ctx.get("stats")
    period = [rules["period_seconds"], ctx.block_time // (rules["period_seconds"] * SECOND)]
    if acct["period"] != period:
        acct["period"] = period
        acct["period_minted"] = 0
    left = rules["mint_limit"] - acct["period_minted"]
    if amount > left:
        raise ContractError("over the purchase limit: " + str(left) + " left of "
                            + str(rules["mint_limit"]) + " this period")
    sweep(ctx, acct, stats)
    acct["period_minted"] = acct["period_minted"] + amount
    expires = mint_lot(ctx, acct, stats, rules, amount, "purchase")
    ctx.put("resident/" + to, acct)
    ctx.put("stats", stats)
    return {"to": to, "amount": amount, "expires": expires,
            "mint_left": rules["mint_limit"] - acct["period_minted"]}


@write
def pay(ctx, merchant, amount):
    config(ctx)
    payer = ctx.caller.public_key
    acct = ctx.get("resident/" + payer)
    if acct is None:
        deny(ctx, "resident")
    check_key(merchant, "merchant")
    check_amount(amount)
    m = merchant_of(ctx, merchant)
    rules = ctx.get("rules")
    if m["state"] != "active":
        raise ContractError("merchant " + m["name"] + " is suspended")
    if m["category"] not in rules["categories"]:
        raise ContractError("spending is not allowed in category " + m["category"])
    stats = ctx.get("stats")
    sweep(ctx, acct, stats)
    spendable = lots_total(acct["lots"])
    if amount > spendable:
        raise ContractError("insufficient balance: " + str(spendable)
                            + " spendable (expired units cannot be spent)")
    # spend the lots that expire first
    left = amount
    lots = []
    for lot in acct["lots"]:
        take = min(left, lot[0])
        left -= take
        if lot[0] > take:
            lots.append([lot[0] - take, lot[1]])
    acct["lots"] = lots
    m["balance"] = m["balance"] + amount
    ctx.emit("payment", id=payer, to=merchant, amount=amount, category=m["category"],
             tx=ctx.tx_hash)
    ctx.emit("payment_received", id=merchant, to=merchant, amount=amount, tx=ctx.tx_hash,
             **{"from": payer})
    # clamped here too: rules stored by a version before the cap still apply the cap
    cashback = amount * min(rules["cashback_bps"], MAX_CASHBACK_BPS) // BPS
    if cashback > 0:
        mint_lot(ctx, acct, stats, rules, cashback, "cashback")
    ctx.put("resident/" + payer, acct)
    ctx.put("merchant/" + merchant, m)
    ctx.put("stats", stats)
    return {"from": payer, "to": merchant, "amount": amount, "cashback": cashback,
            "balance": lots_total(acct["lots"])}


@write
def redeem(ctx, amount):
    config(ctx)
    who = ctx.caller.public_key
    m = ctx.get("merchant/" + who)
    if m is None:
        deny(ctx, "merchant")
    check_amount(amount)
    if amount > m["balance"]:
        raise ContractError("insufficient balance: " + str(m["balance"]) + " to redeem")
    m["balance"] = m["balance"] - amount
    stats = ctx.get("stats")
    stats["burned"] = stats["burned"] + amount
    ctx.put("merchant/" + who, m)
    ctx.put("stats", stats)
    ctx.emit("redeemed", id=who, amount=amount, tx=ctx.tx_hash, **{"from": who})
    return {"merchant": who, "amount": amount, "balance": m["balance"]}


@write
def reclaim_expired(ctx, public_key):
    require_city(ctx)
    check_key(public_key, "public_key")
    acct = resident_of(ctx, public_key)
    stats = ctx.get("stats")
    burned = sweep(ctx, acct, stats)
    if burned == 0:
        raise ContractError("this resident holds no expired units")
    ctx.put("resident/" + public_key, acct)
    ctx.put("stats", stats)
    return {"public_key": public_key, "burned": burned, "balance": lots_total(acct["lots"])}


# -- reads ----------------------------------------------------------------------------------
@read
def roles_of(ctx, org=None, public_key=None):
    cfg = config(ctx)
    held = []
    if org is not None and org in cfg["roles"]["city"]:
        held.append("city")
    if public_key is not None:
        check_key(public_key, "public_key")
        if ctx.has("resident/" + public_key):
            held.append("resident")
        if ctx.has("merchant/" + public_key):
            held.append("merchant")
    return held


@read
def get_rules(ctx):
    cfg = config(ctx)
    rules = ctx.get("rules")
    rules["unit"] = cfg["unit"]
    return rules


@read
def balance(ctx, public_key):
    check_key(public_key, "public_key")
    m = ctx.get("merchant/" + public_key)
    if m is not None:
        return {"public_key": public_key, "kind": "merchant", "balance": m["balance"],
                "spendable": m["balance"], "expired": 0, "category": m["category"],
                "state": m["state"]}
    acct = resident_of(ctx, public_key)
    rules = ctx.get("rules")
    live, expired = split_lots(acct["lots"], ctx.block_time)
    period = [rules["period_seconds"], ctx.block_time // (rules["period_seconds"] * SECOND)]
    used = acct["period_minted"] if acct["period"] == period else 0
    lots = []
    for lot in acct["lots"]:
        lots.append({"amount": lot[0], "expires": lot[1], "expired": lot[1] <= ctx.block_time})
    spendable = lots_total(live)
    return {"public_key": public_key, "kind": "resident", "balance": spendable + expired,
            "spendable": spendable, "expired": expired, "lots": lots,
            "mint_left": max(rules["mint_limit"] - used, 0)}


@read
def get_merchant(ctx, id):
    check_key(id, "merchant")
    return merchant_of(ctx, id)


@read
def list_merchants(ctx):
    rows = ctx.range("merchant/", "merchant0", limit=200)
    return [row[1] for row in rows]


@read
def supply(ctx):
    config(ctx)
    stats = ctx.get("stats")
    residents = ctx.range("resident/", "resident0", limit=200)
    merchants = ctx.range("merchant/", "merchant0", limit=200)
    total = 0
    for row in residents:
        total += lots_total(row[1]["lots"])
    for row in merchants:
        total += row[1]["balance"]
    return {"minted": stats["minted"], "burned": stats["burned"],
            "supply": stats["minted"] - stats["burned"], "sum_of_balances": total,
            "accounts": len(residents) + len(merchants),
            "complete": len(residents) < SCAN and len(merchants) < SCAN}
