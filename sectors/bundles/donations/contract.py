# ruff: noqa: F821 - read, write and ContractError are sandbox builtins
# Donation tracking: campaigns raise funds, the charity allocates them to projects and
# disburses them to a deliverer, the deliverer records the delivery (document hash) and the
# project's receiver acknowledges it. A donor follows one donation to delivery with
# donation_report (FIFO attribution, see docs/templates/donations.md).
#
# This file is chaincode source (run in the sandbox), not a module the node imports.
#
# Keys:
#   config                      {"roles": {role: [org, ...]}, "currency": "KRW"}
#   campaign/<id>               campaign summary (raised, allocated, donations, state)
#   calloc/<campaign>           list of the campaign's allocations, in order (FIFO)
#   project/<id>                project summary (allocated, disbursed, receiver)
#   palloc/<project>            list of the project's incoming allocations, in order
#   pdisb/<project>             list of the project's disbursements, in order (FIFO)
#   disbursement/<id>           one disbursement: the workflow entity
#   donation/<id>               one donation (id "<campaign>-<n>")
#   donor/<public key>/<id>     index of a donor's donations
#   receiver/<public key>       project ids the key acknowledges deliveries for

ORG_ROLES = ["charity", "deliverer"]
MAX_AMOUNT = 10**15
MAX_ALLOCATIONS = 200  # per campaign and per project (stored as one list)
MAX_DISBURSEMENTS = 200  # per project
MAX_RECEIVER_PROJECTS = 100
MAX_REPORT_ROWS = 50  # rows of each list that donation_report returns
MAX_REPORT_STEPS = 1000  # disbursements donation_report examines (bounds its cost)
MAX_TITLE = 120
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
HEX = "0123456789abcdef"


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


def org_roles(cfg, org):
    if not org:
        return []
    return [r for r in ORG_ROLES if org in cfg["roles"].get(r, [])]


def require_org_role(ctx, role):
    cfg = config(ctx)
    if role not in org_roles(cfg, ctx.caller.org):
        deny(ctx, role)
    return cfg


def check_id(value, what, max_len=40):
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise ContractError(what + " must be a string of 1.." + str(max_len) + " characters")
    for c in value:
        if c not in ID_CHARS:
            raise ContractError(what + " may only hold letters, digits, '_', '.' and '-'")
    if value[0] in "_.-":
        raise ContractError(what + " must start with a letter or a digit")
    return value


def check_amount(value, what="amount"):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(what + " must be an integer")
    if value < 1 or value > MAX_AMOUNT:
        raise ContractError(what + " must be between 1 and " + str(MAX_AMOUNT))
    return value


def check_title(value, what="title"):
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TITLE:
        raise ContractError(what + " must be a string of 1.." + str(MAX_TITLE) + " characters")
    return value


def check_hex(value, what):
    if not isinstance(value, str) or len(value) != 64:
        raise ContractError(what + " must be 64 lowercase hex characters")
    for c in value:
        if c not in HEX:
            raise ContractError(what + " must be 64 lowercase hex characters")
    return value


def must_get(ctx, prefix, id, what):
    value = ctx.get(prefix + id)
    if value is None:
        raise ContractError("no such " + what + ": " + id)
    return value


def overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def first_ending_after(entries, point):
    """Index of the first entry (in offset order) with offset + amount > point."""
    lo = 0
    hi = len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if entries[mid]["offset"] + entries[mid]["amount"] > point:
            hi = mid
        else:
            lo = mid + 1
    return lo


# -- setup ----------------------------------------------------------------------------------
@write
def init(ctx, roles, currency="KRW"):
    if not ctx.caller.has_role("admin"):
        deny(ctx, "network admin")
    if ctx.has("config"):
        raise ContractError("the contract is already initialised")
    if not isinstance(roles, dict):
        raise ContractError("roles must be an object {role: [organisation, ...]}")
    table = {}
    for role in ORG_ROLES:
        orgs = roles.get(role, [])
        if not isinstance(orgs, list) or len(orgs) > 32:
            raise ContractError("roles." + role + " must be a list of organisation ids")
        for org in orgs:
            if not isinstance(org, str) or not 0 < len(org) <= 64:
                raise ContractError("roles." + role + " must be a list of organisation ids")
        table[role] = orgs
    for role in roles:
        if role not in ORG_ROLES:
            raise ContractError("unknown organisation role: " + str(role)[:32])
    if not table["charity"]:
        raise ContractError("at least one organisation must hold the charity role")
    if not isinstance(currency, str) or not 0 < len(currency) <= 8:
        raise ContractError("currency must be a short code such as KRW")
    ctx.put("config", {"roles": table, "currency": currency})
    ctx.emit("initialised", id=ctx.chaincode, by=ctx.caller.org or "")
    return {"roles": table, "currency": currency}


@read
def roles_of(ctx, org=None, public_key=None):
    cfg = config(ctx)
    held = []
    if org is not None:
        held.extend(org_roles(cfg, org))
    if public_key is not None:
        check_hex(public_key, "public_key")
        held.append("donor")  # anyone with a key may donate
        if ctx.get("receiver/" + public_key):
            held.append("receiver")
    return held


# -- campaigns and donations ----------------------------------------------------------------
@write
def create_campaign(ctx, id, title, goal):
    require_org_role(ctx, "charity")
    check_id(id, "campaign id")
    check_title(title)
    check_amount(goal, "goal")
    if ctx.has("campaign/" + id):
        raise ContractError("campaign " + id + " already exists")
    campaign = {"id": id, "title": title, "goal": goal, "raised": 0, "allocated": 0,
                "donations": 0, "state": "open", "charity": ctx.caller.org,
                "created": ctx.block_time}
    ctx.put("campaign/" + id, campaign)
    ctx.put("calloc/" + id, [])
    ctx.emit("campaign_created", id=id, by=ctx.caller.org, goal=goal)
    return campaign


@write
def close_campaign(ctx, id):
    require_org_role(ctx, "charity")
    check_id(id, "campaign id")
    campaign = must_get(ctx, "campaign/", id, "campaign")
    if campaign["state"] != "open":
        raise ContractError("campaign " + id + " is already closed")
    campaign["state"] = "closed"
    campaign["closed"] = ctx.block_time
    ctx.put("campaign/" + id, campaign)
    ctx.emit("campaign_closed", id=id, by=ctx.caller.org, raised=campaign["raised"])
    return campaign


@write
def donate(ctx, campaign, amount):
    check_id(campaign, "campaign id")
    check_amount(amount)
    donor = ctx.caller.public_key
    c = must_get(ctx, "campaign/", campaign, "campaign")
    if c["state"] != "open":
        raise ContractError("campaign " + campaign + " is closed: it takes no more donations")
    if c["raised"] + amount > MAX_AMOUNT:
        raise ContractError("the campaign cannot raise more than " + str(MAX_AMOUNT))
    n = c["donations"] + 1
    id = campaign + "-" + str(n)
    donation = {"id": id, "campaign": campaign, "donor": donor, "amount": amount,
                "offset": c["raised"], "time": ctx.block_time}
    c["donations"] = n
    c["raised"] = c["raised"] + amount
    ctx.put("campaign/" + campaign, c)
    ctx.put("donation/" + id, donation)
    ctx.put("donor/" + donor + "/" + id, amount)
    ctx.emit("donated", id=id, campaign=campaign, donor=donor, amount=amount)
    ctx.emit("campaign_raised", id=campaign, donation=id, amount=amount, raised=c["raised"])
    return donation


# -- projects, allocations, disbursements, deliveries ---------------------------------------
@write
def create_project(ctx, id, title, receiver):
    require_org_role(ctx, "charity")
    check_id(id, "project id")
    check_title(title)
    check_hex(receiver, "receiver")
    if ctx.has("project/" + id):
        raise ContractError("project " + id + " already exists")
    projects = ctx.get("receiver/" + receiver, [])
    if len(projects) >= MAX_RECEIVER_PROJECTS:
        raise ContractError("this receiver already acknowledges " + str(len(projects))
                            + " projects, the limit")
    project = {"id": id, "title": title, "receiver": receiver, "allocated": 0,
               "disbursed": 0, "allocations": 0, "disbursements": 0,
               "charity": ctx.caller.org, "created": ctx.block_time}
    ctx.put("project/" + id, project)
    ctx.put("palloc/" + id, [])
    ctx.put("pdisb/" + id, [])
    projects.append(id)
    ctx.put("receiver/" + receiver, projects)
    ctx.emit("project_created", id=id, by=ctx.caller.org, receiver=receiver)
    return project


@write
def allocate(ctx, campaign, project, amount):
    require_org_role(ctx, "charity")
    check_id(campaign, "campaign id")
    check_id(project, "project id")
    check_amount(amount)
    c = must_get(ctx, "campaign/", campaign, "campaign")
    p = must_get(ctx, "project/", project, "project")
    free = c["raised"] - c["allocated"]
    if amount > free:
        raise ContractError("campaign " + campaign + " has " + str(free)
                            + " raised and not yet allocated; cannot allocate " + str(amount))
    callocs = ctx.get("calloc/" + campaign, [])
    pallocs = ctx.get("palloc/" + project, [])
    if len(callocs) >= MAX_ALLOCATIONS or len(pallocs) >= MAX_ALLOCATIONS:
        raise ContractError("at most " + str(MAX_ALLOCATIONS)
                            + " allocations per campaign and per project")
    entry = {"n": len(callocs) + 1, "campaign": campaign, "project": project,
             "amount": amount, "offset": c["allocated"], "poffset": p["allocated"],
             "time": ctx.block_time}
    callocs.append(entry)
    pallocs.append(entry)
    c["allocated"] = c["allocated"] + amount
    p["allocated"] = p["allocated"] + amount
    p["allocations"] = len(pallocs)
    ctx.put("calloc/" + campaign, callocs)
    ctx.put("palloc/" + project, pallocs)
    ctx.put("campaign/" + campaign, c)
    ctx.put("project/" + project, p)
    ctx.emit("allocated", id=project, campaign=campaign, by=ctx.caller.org, amount=amount)
    ctx.emit("campaign_allocated", id=campaign, project=project, amount=amount,
             allocated=c["allocated"])
    return entry


@write
def disburse(ctx, id, project, amount, deliverer):
    cfg = require_org_role(ctx, "charity")
    check_id(id, "disbursement id")
    check_id(project, "project id")
    check_amount(amount)
    if not isinstance(deliverer, str) or deliverer not in cfg["roles"].get("deliverer", []):
        raise ContractError("deliverer must be an organisation holding the deliverer role")
    if ctx.has("disbursement/" + id):
        raise ContractError("disbursement " + id + " already exists: nothing is disbursed twice")
    p = must_get(ctx, "project/", project, "project")
    free = p["allocated"] - p["disbursed"]
    if amount > free:
        raise ContractError("project " + project + " has " + str(free)
                            + " allocated and not yet disbursed; cannot disburse " + str(amount))
    disbs = ctx.get("pdisb/" + project, [])
    if len(disbs) >= MAX_DISBURSEMENTS:
        raise ContractError("at most " + str(MAX_DISBURSEMENTS) + " disbursements per project")
    record = {"id": id, "project": project, "amount": amount, "offset": p["disbursed"],
              "deliverer": deliverer, "state": "disbursed", "charity": ctx.caller.org,
              "disbursed": ctx.block_time, "document_hash": None, "delivered": None,
              "acknowledged": None}
    disbs.append({"id": id, "amount": amount, "offset": p["disbursed"]})
    p["disbursed"] = p["disbursed"] + amount
    p["disbursements"] = len(disbs)
    ctx.put("pdisb/" + project, disbs)
    ctx.put("project/" + project, p)
    ctx.put("disbursement/" + id, record)
    ctx.emit("disbursed", id=id, project=project, by=ctx.caller.org, deliverer=deliverer,
             amount=amount)
    return record


@write
def record_delivery(ctx, id, document_hash):
    require_org_role(ctx, "deliverer")
    check_id(id, "disbursement id")
    check_hex(document_hash, "document_hash")
    record = must_get(ctx, "disbursement/", id, "disbursement")
    if record["deliverer"] != ctx.caller.org:
        deny(ctx, "deliverer of " + id)
    if record["state"] != "disbursed":
        raise ContractError("disbursement " + id + " is already " + record["state"])
    record["state"] = "delivered"
    record["document_hash"] = document_hash
    record["delivered"] = ctx.block_time
    ctx.put("disbursement/" + id, record)
    ctx.emit("delivered", id=id, project=record["project"], by=ctx.caller.org,
             document_hash=document_hash)
    return record


@write
def acknowledge(ctx, id, document_hash):
    check_id(id, "disbursement id")
    check_hex(document_hash, "document_hash")
    record = must_get(ctx, "disbursement/", id, "disbursement")
    p = must_get(ctx, "project/", record["project"], "project")
    if ctx.caller.public_key != p["receiver"]:
        deny(ctx, "receiver")
    if record["state"] != "delivered":
        raise ContractError("disbursement " + id + " is " + record["state"]
                            + ": only a delivered disbursement can be acknowledged")
    if document_hash != record["document_hash"]:
        raise ContractError("the document hash does not match the delivery record")
    record["state"] = "acknowledged"
    record["acknowledged"] = ctx.block_time
    ctx.put("disbursement/" + id, record)
    ctx.emit("acknowledged", id=id, project=record["project"], by=ctx.caller.public_key)
    return record


# -- reads ----------------------------------------------------------------------------------
@read
def get_campaign(ctx, id):
    check_id(id, "campaign id")
    return must_get(ctx, "campaign/", id, "campaign")


@read
def list_campaigns(ctx):
    rows = ctx.range("campaign/", "campaign0", limit=200)
    return [row[1] for row in rows]


@read
def get_project(ctx, id):
    check_id(id, "project id")
    p = must_get(ctx, "project/", id, "project")
    p["allocation_list"] = ctx.get("palloc/" + id, [])
    p["disbursement_list"] = ctx.get("pdisb/" + id, [])
    return p


@read
def list_projects(ctx):
    rows = ctx.range("project/", "project0", limit=200)
    return [row[1] for row in rows]


@read
def get_disbursement(ctx, id):
    check_id(id, "disbursement id")
    return must_get(ctx, "disbursement/", id, "disbursement")


@read
def list_disbursements(ctx):
    rows = ctx.range("disbursement/", "disbursement0", limit=200)
    return [row[1] for row in rows]


@read
def donations_of(ctx, public_key):
    check_hex(public_key, "public_key")
    prefix = "donor/" + public_key + "/"
    rows = ctx.range(prefix, "donor/" + public_key + "0", limit=100)
    return [{"id": k[len(prefix):], "amount": v} for k, v in rows]


@read
def donation_report(ctx, id):
    check_id(id, "donation id", 64)
    d = must_get(ctx, "donation/", id, "donation")
    c = ctx.get("campaign/" + d["campaign"])
    lo = d["offset"]
    hi = lo + d["amount"]
    allocations = []
    disbursements = []
    allocated = 0
    disbursed = 0
    delivered = 0
    acknowledged = 0
    projects = {}
    truncated = False
    partial = False  # totals cover only what was examined
    examined = 0
    callocs = ctx.get("calloc/" + d["campaign"], [])
    for a in callocs[first_ending_after(callocs, lo):]:
        if a["offset"] >= hi or partial:
            break
        share = overlap(lo, hi, a["offset"], a["offset"] + a["amount"])
        allocated += share
        p = projects.get(a["project"])
        if p is None:
            p = ctx.get("project/" + a["project"])
            projects[a["project"]] = p
        if len(allocations) < MAX_REPORT_ROWS:
            allocations.append({"project": a["project"], "title": p["title"],
                                "amount": share, "allocation": a["amount"],
                                "time": a["time"]})
        else:
            truncated = True
        # the donation's part of this allocation, placed in the project's FIFO stream
        plo = a["poffset"] + max(lo, a["offset"]) - a["offset"]
        phi = plo + share
        disbs = ctx.get("pdisb/" + a["project"], [])
        for s in disbs[first_ending_after(disbs, plo):]:
            if s["offset"] >= phi:
                break
            examined += 1
            if examined > MAX_REPORT_STEPS:
                partial = True
                truncated = True
                break
            part = overlap(plo, phi, s["offset"], s["offset"] + s["amount"])
            r = ctx.get("disbursement/" + s["id"])
            disbursed += part
            if r["state"] != "disbursed":
                delivered += part
            if r["state"] == "acknowledged":
                acknowledged += part
            if len(disbursements) >= MAX_REPORT_ROWS:
                truncated = True
                continue
            disbursements.append({"id": r["id"], "project": r["project"], "amount": part,
                                  "disbursement": r["amount"], "state": r["state"],
                                  "deliverer": r["deliverer"], "disbursed": r["disbursed"],
                                  "document_hash": r["document_hash"],
                                  "delivered": r["delivered"],
                                  "acknowledged": r["acknowledged"]})
    return {
        "donation": d,
        "campaign": {"id": c["id"], "title": c["title"], "goal": c["goal"],
                     "raised": c["raised"], "allocated": c["allocated"], "state": c["state"]},
        "allocations": allocations,
        "disbursements": disbursements,
        "totals": {"amount": d["amount"], "allocated": allocated, "disbursed": disbursed,
                   "delivered": delivered, "acknowledged": acknowledged},
        "attribution": "fifo",
        "truncated": truncated,
        "partial": partial,
        "currency": config(ctx)["currency"],
    }
