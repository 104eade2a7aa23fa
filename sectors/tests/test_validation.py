"""Validation and the review report: every code of docs/templates.md, all listed at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sectors.bundle import Bundle, load_dir
from sectors.harness import key_for
from sectors.review import static_warnings, substitute
from sectors.tests.bundles import CONTRACT, write_bundle
from sectors.validation import manifest_schema, validate


def bundle_at(tmp_path: Path, **edits) -> Bundle:  # noqa: ANN003
    return load_dir(write_bundle(tmp_path / "bundle", **edits))


def codes(report) -> list[str]:  # noqa: ANN001
    return [p.code for p in report.problems]


def problem(report, code: str):  # noqa: ANN001, ANN201
    found = [p for p in report.problems if p.code == code]
    assert found, f"no {code} in {report.problems}"
    return found[0]


def test_the_fixture_bundle_is_valid_and_reviewed(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path))
    assert report.valid, report.problems
    review = report.review
    assert review is not None
    assert review.roles == {"charity": ["org1"], "auditor": ["org2"]}
    assert review.init is not None and review.init.outcome == "ok"
    assert [(s.function, s.as_, s.outcome) for s in review.samples] == [
        ("create_campaign", "charity", "ok"), ("create_campaign", "auditor", "refused"),
        ("donate", "key:alice", "ok"), ("close_campaign", "auditor", "ok"),
        ("get_campaign", "key:alice", "ok")]
    assert all(s.steps > 0 for s in review.samples)
    assert "not a charity" in (review.samples[1].error or "")
    assert review.steps_total == review.init.steps + sum(s.steps for s in review.samples)
    # donate allows anyone: not checked; the other writes refuse a key and another org
    checks = [(c.function, c.as_, c.outcome, c.when) for c in review.role_checks]
    assert checks == [
        ("create_campaign", "key:__review_outsider", "refused", "before sample 0"),
        ("create_campaign", "org:org2", "refused", "before sample 0"),
        ("close_campaign", "key:__review_outsider", "refused", "before sample 3"),
        ("close_campaign", "org:org1", "refused", "before sample 3"),
    ]
    assert review.warnings == []
    data = json.loads(json.dumps(report.to_dict()))
    assert data["valid"] is True and data["problems"] == []
    assert data["review"]["samples"][0] == {
        "function": "create_campaign", "as": "charity", "outcome": "ok",
        "steps": review.samples[0].steps, "expect": "ok", "index": 0, "signer": "charity"}
    assert data["review"]["steps_total"] == review.steps_total


def test_manifest_syntax(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, manifest='name = "x"\nname = "y"\n'))
    assert codes(report) == ["manifest_syntax"]
    assert problem(report, "manifest_syntax").path == "manifest.toml"
    assert report.review is None


def test_every_schema_error_is_listed_with_its_path(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('sector = "donation"', 'sector = "banking"'),
        ('kind = "write"', 'kind = "writes"'),
        ('ko = "기부금을 추적합니다." }', 'ko = "" }'),
        ('[upgrade]\napproval = "owner"', '[upgrade]\napproval = "owner"\nquorum = 2'),
    ]))
    paths = {p.path for p in report.problems if p.code == "manifest_schema"}
    assert {"$.sector", "$.functions[0].kind", "$.description.ko", "$.upgrade"} <= paths
    assert report.review is None  # the review needs a manifest that fits the schema
    assert not report.valid


def test_schema_and_contract_problems_are_listed_together(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[('version = "1.0.0"', 'version = "1.0"')],
                                contract_replace=[("# Donation", "import os\n# Donation")]))
    assert codes(report) == ["manifest_schema", "contract_rejected"]
    assert problem(report, "manifest_schema").path == "$.version"
    assert problem(report, "contract_rejected").path == "contract.py"
    assert "os" in problem(report, "contract_rejected").message


def test_function_missing_kind_and_undeclared(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, contract_replace=[
        ("@read\ndef get_campaign", "@write\ndef get_campaign"),
        ("@read\ndef roles_of", "def roles_of"),
        ("@read\ndef list_campaigns", "@read\ndef extra(ctx):\n    return 1\n\n\n"
                                      "@read\ndef list_campaigns"),
    ]))
    assert sorted(codes(report)) == ["function_kind", "function_missing",
                                     "function_undeclared"]
    assert problem(report, "function_kind").path == "$.functions[3].kind"
    assert problem(report, "function_missing").path == "$.functions[5].name"
    assert "extra" in problem(report, "function_undeclared").message


def test_the_init_function_must_be_an_exported_write(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[('function = "init"', 'function = "setup"')]))
    assert codes(report)[:2] == ["function_missing", "function_undeclared"]
    assert problem(report, "function_missing").path == "$.init.function"


def test_role_unknown_and_function_unknown(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('roles = ["auditor"]', 'roles = ["auditors"]'),
        ('as = "auditor"', 'as = "bank"'),
        ('function = "get_campaign"\nas', 'function = "get_campaigns"\nas'),
    ]))
    assert sorted(codes(report)) == ["function_unknown", "role_unknown", "role_unknown"]
    paths = sorted(p.path for p in report.problems)
    assert paths == ["$.functions[2].roles[0]", "$.samples[1].as", "$.samples[4].function"]


def test_duplicates_and_unknown_states(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('name = "close_campaign"', 'name = "donate"'),
        ('to = "open"', 'to = "running"'),
    ]))
    assert "manifest_duplicate" in codes(report)
    assert problem(report, "state_unknown").path == "$.functions[0].transition.to"


def test_version_not_newer(tmp_path: Path) -> None:
    bundle = bundle_at(tmp_path)
    for deployed in ("1.0.0", "1.0.1", "2.0.0"):
        report = validate(bundle, deployed_version=deployed, review=False)
        assert codes(report) == ["version_not_newer"]
        assert problem(report, "version_not_newer").path == "$.version"
    assert validate(bundle, deployed_version="0.9.12", review=False).valid
    with pytest.raises(ValueError):
        validate(bundle, deployed_version="1.0")


def test_sample_failed(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('args = { id = "c2", goal = 1000 }\nexpect = "refused"',
         'args = { id = "c2", goal = 1000 }\nexpect = "ok"'),
        ('args = { id = "c1" }\nexpect = "ok"', 'args = { id = "nope" }\nexpect = "ok"'),
    ]))
    assert codes(report) == ["sample_failed", "sample_failed"]
    assert [p.path for p in report.problems] == ["$.samples[1]", "$.samples[3]"]
    assert "not a charity" in report.problems[0].message
    assert "no campaign" in report.problems[1].message


def test_args_schema_invalid(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('properties.amount = { type = "integer", minimum = 1 }',
         'properties.amount = { type = "whole number", minimum = "one" }')]))
    assert codes(report) == ["args_schema_invalid"]
    assert problem(report, "args_schema_invalid").path == "$.functions[1].args"
    assert "properties" in problem(report, "args_schema_invalid").message


def test_sample_args_invalid(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('args = { id = "c1", goal = 1000 }', 'args = { id = "c1", goal = 0, colour = "red" }'),
    ]))
    assert "sample_args_invalid" in codes(report)
    paths = sorted(p.path for p in report.problems if p.code == "sample_args_invalid")
    assert paths == ["$.samples[0].args", "$.samples[0].args.goal"]


def test_several_problems_at_once(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('sector = "donation"', 'sector = "banking"'),
        ('roles = ["auditor"]', 'roles = ["auditors"]'),
        ('args = { id = "c1", goal = 1000 }', 'args = { id = "c1", goal = "lots" }'),
    ], contract_replace=[("@read\ndef roles_of", "@write\ndef roles_of")]),
        deployed_version="1.0.0")
    assert sorted(set(codes(report))) == ["function_kind", "manifest_schema", "role_unknown",
                                          "sample_args_invalid", "version_not_newer"]


PERMISSIVE = ("def close_campaign(ctx, id):\n    require(ctx, \"auditor\")\n",
              "def close_campaign(ctx, id):\n")


def test_role_not_enforced(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, contract_replace=[PERMISSIVE]))
    assert "role_not_enforced" in codes(report)
    not_enforced = [p for p in report.problems if p.code == "role_not_enforced"]
    assert {p.path for p in not_enforced} == {"$.functions[2].roles"}
    assert review_callers(report, "close_campaign") == [
        ("key:__review_outsider", "ok"), ("org:org1", "ok")]
    assert "key:__review_outsider" in not_enforced[0].message


def review_callers(report, function: str) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(c.as_, c.outcome) for c in report.review.role_checks if c.function == function]


def test_role_check_without_a_sample_is_skipped_with_a_note(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('function = "close_campaign"\nas = "auditor"\nargs = { id = "c1" }\nexpect = "ok"',
         'function = "get_campaign"\nas = "auditor"\nargs = { id = "c1" }\nexpect = "ok"')]))
    assert report.valid, report.problems
    skipped = [c for c in report.review.role_checks if c.function == "close_campaign"]
    assert [c.outcome for c in skipped] == ["skipped"] and "no sample" in skipped[0].note


def test_role_check_after_the_samples_when_no_sample_succeeds(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, replace=[
        ('args = { id = "c1" }\nexpect = "ok"', 'args = { id = "c9" }\nexpect = "refused"')]))
    assert report.valid, report.problems
    checks = [c for c in report.review.role_checks if c.function == "close_campaign"]
    assert {c.when for c in checks} == {"after the samples"}
    assert all(c.outcome == "refused" and c.note for c in checks)


def test_key_and_org_substitution(tmp_path: Path) -> None:
    contract = CONTRACT + '''

@write
def set_owner(ctx, id, owner, auditor_org):
    require(ctx, "charity")
    ctx.put(f"campaign/{id}/owner", {"owner": owner, "auditor": auditor_org})


@write
def claim(ctx, id):
    record = ctx.get(f"campaign/{id}/owner")
    if record is None or record["owner"] != ctx.caller.public_key:
        raise ContractError("not the owner")
    if record["auditor"] != "org2":
        raise ContractError("wrong auditor")
    ctx.put(f"campaign/{id}/claimed", True)
'''
    extra = '''
[[functions]]
name = "set_owner"
kind = "write"
roles = ["charity"]
title = { en = "Owner", ko = "소유자" }
keys = ["campaign/"]
args = { type = "object", properties = { owner = { type = "string", pattern = "^[0-9a-f]{64}$" } } }

[[functions]]
name = "claim"
kind = "write"
roles = ["donor"]
title = { en = "Claim", ko = "청구" }
keys = ["campaign/"]
args = { type = "object" }

[workflow]'''
    samples = '''
[[samples]]
function = "set_owner"
as = "charity"
args = { id = "c1", owner = "$key:donor", auditor_org = "$org:auditor" }
expect = "ok"

[[samples]]
function = "claim"
as = "donor"
args = { id = "c1" }
expect = "ok"

[[samples]]
function = "claim"
as = "key:mallory"
args = { id = "c1" }
expect = "refused"
'''
    bundle = bundle_at(tmp_path, contract=contract, replace=[("\n[workflow]", extra)])
    bundle.files["manifest.toml"] += samples.encode()
    report = validate(bundle)
    assert report.valid, report.problems
    claim = [s for s in report.review.samples if s.function == "claim"]
    assert [(s.signer, s.outcome) for s in claim] == [("key:donor", "ok"),
                                                      ("key:mallory", "refused")]
    # claim allows only a key role: the outsider key is refused, no org check is made
    assert review_callers(report, "claim") == [("key:__review_outsider", "refused")]


def test_substitute_reaches_nested_values() -> None:
    roles = {"auditor": ["org2"]}
    alice = key_for("alice").public_key_hex
    assert substitute({"a": ["$key:alice", {"b": "$org:auditor"}], "$key:alice": 1,
                       "c": "$org:nobody", "d": "x$key:alice"}, roles) == {
        "a": [alice, {"b": "org2"}], alice: 1, "c": "$org:nobody", "d": "x$key:alice"}


def test_a_review_of_thirty_samples_is_fast(tmp_path: Path) -> None:
    donations = "".join(
        f'\n[[samples]]\nfunction = "donate"\nas = "key:d{i}"\n'
        f'args = {{ campaign = "c1", amount = {i + 1} }}\nexpect = "ok"\n' for i in range(26))
    bundle = bundle_at(tmp_path)
    manifest = bundle.files["manifest.toml"].decode()
    manifest = manifest.replace('\n[[samples]]\nfunction = "close_campaign"',
                                donations + '\n[[samples]]\nfunction = "close_campaign"')
    bundle.files["manifest.toml"] = manifest.encode()
    start = time.monotonic()
    report = validate(bundle)
    elapsed = time.monotonic() - start
    assert report.valid, report.problems
    assert len(report.review.samples) == 31
    assert elapsed < 2, elapsed


# -- static warnings ---------------------------------------------------------------------------
WRITES = {"functions": [{"name": "save", "kind": "write", "keys": ["item/"]},
                        {"name": "scan", "kind": "read"}]}


def warnings_of(source: str, manifest: dict | None = None) -> list[tuple[str, str, int]]:
    return [(w.code, w.function, w.line)
            for w in static_warnings(source, manifest or WRITES)]


def test_range_unbounded() -> None:
    source = '''
@read
def scan(ctx, n):
    a = ctx.range("item/")
    b = ctx.range("item/", None, n)
    c = ctx.range("item/", limit=n)
    d = ctx.range("item/", "item0", 10)
    return ctx.range("item/", limit=50) + a + b + c + d
'''
    assert warnings_of(source) == [("range_unbounded", "scan", 4), ("range_unbounded", "scan", 5),
                                   ("range_unbounded", "scan", 6)]


def test_range_in_loop() -> None:
    source = '''
def page(ctx, start):
    return ctx.range(start, None, 10)


@read
def scan(ctx, prefixes):
    out = [row for row in ctx.range("item/", None, 10)]
    for p in prefixes:
        out.extend(ctx.range(p, None, 10))
    while len(out) < 5:
        out.extend(page(ctx, "x"))
    return [r for p in prefixes for r in ctx.range(p, None, 10)]
'''
    assert warnings_of(source) == [("range_in_loop", "scan", 3), ("range_in_loop", "scan", 10),
                                   ("range_in_loop", "scan", 13)]


def test_write_outside_keys() -> None:
    source = '''
def log(c, text):
    c.put("log/" + text, 1)


@write
def save(ctx, id, key):
    ctx.put("item/" + id, 1)
    ctx.put(f"item/{id}/x", 1)
    ctx.put("item/" + "fixed", 1)
    ctx.delete(key=f"it{id}")
    ctx.put("config", 2)
    ctx.put(key, 3)
    log(ctx, id)


@write
def undeclared(ctx):
    ctx.put("anything", 1)
'''
    found = warnings_of(source)
    assert found == [("write_outside_keys", "save", 3), ("write_outside_keys", "save", 11),
                     ("write_outside_keys", "save", 12), ("write_outside_keys", "save", 13)]
    messages = [w.message for w in static_warnings(source, WRITES)]
    assert "'config'" in messages[2] and "no constant prefix" in messages[3]


def test_helpers_are_followed_one_level_only() -> None:
    source = '''
def deeper(ctx):
    return ctx.range("x")


def helper(ctx):
    return deeper(ctx)


@read
def scan(ctx):
    return helper(ctx)
'''
    assert warnings_of(source) == []


def test_warnings_are_in_the_report_but_keep_the_bundle_valid(tmp_path: Path) -> None:
    report = validate(bundle_at(tmp_path, contract_replace=[
        ('ctx.range("campaign/", "campaign0", 100)', 'ctx.range("campaign/")'),
        ('ctx.emit("campaign_created"',
         'ctx.put(f"stats/{id}", 0)\n    ctx.emit("campaign_created"'),
    ]))
    assert report.valid
    assert sorted(w["code"] for w in report.to_dict()["review"]["warnings"]) == [
        "range_unbounded", "write_outside_keys"]


def test_the_schema_requires_a_closed_manifest() -> None:
    schema = manifest_schema()
    assert schema["additionalProperties"] is False
    for name in ("role", "function", "sample", "state"):
        assert schema["$defs"][name]["additionalProperties"] is False


@pytest.mark.parametrize("pattern", [r"(\w)\1", "(?=a)b", "x" * 300])
def test_patterns_re2_cannot_run_in_linear_time_are_refused(pattern):
    """Argument schemas are checked for every call on the web workers, with RE2: what it
    cannot run in linear time (backreferences, lookaround) is refused at upload."""
    from sectors.schemas import ArgsValidator, pattern_problem

    assert pattern_problem(pattern)
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    assert list(ArgsValidator(schema).iter_errors({"s": "a" * 50}))


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)*b", "^(\\d*)*$"])
def test_patterns_that_backtrack_exponentially_in_python_run_on_re2(pattern):
    """These take exponential time in Python's re on such inputs; RE2 answers at once (a
    hang here would be the test failing)."""
    from sectors.schemas import ArgsValidator, pattern_problem

    assert not pattern_problem(pattern)
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    assert list(ArgsValidator(schema).iter_errors({"s": "a" * 5000 + "!"}))


def test_linear_patterns_still_match_and_refuse():
    from sectors.schemas import ArgsValidator

    schema = {"type": "object", "patternProperties": {"^k[0-9]+$": {"type": "integer"}},
              "properties": {"id": {"type": "string", "pattern": "^[a-z]{1,5}$"}}}
    assert not list(ArgsValidator(schema).iter_errors({"id": "abc", "k1": 2}))
    assert len(list(ArgsValidator(schema).iter_errors({"id": "ABC", "k1": "x"}))) == 2


def test_hostile_nesting_is_a_problem_not_a_crash(tmp_path):
    from sectors.bundle import Bundle

    manifest = b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n"
    bundle = Bundle.from_files({"manifest.toml": manifest, "contract.py": CONTRACT.encode()})
    codes = {p.code for p in validate(bundle, review=False).problems}
    assert "manifest_syntax" in codes
    deep: dict = {"type": "object"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"x": deep}}
    from sectors.schemas import schema_problem

    assert "nested deeper" in schema_problem(deep)
    assert "$ref" in schema_problem({"$ref": "http://127.0.0.1:9/"})


def test_form_patterns_run_on_re2():
    from django.core.exceptions import ValidationError

    from sectors.forms_schema import PatternValidator

    slow = PatternValidator("^(a+)+$")
    with pytest.raises(ValidationError):
        slow("a" * 5000 + "!")  # RE2: no match, at once
    slow("aaaa")
    PatternValidator(r"^[a-z]+\z")("abc")  # RE2 syntax that Python's re cannot compile
    with pytest.raises(ValidationError):
        PatternValidator("(?=a)b")("ab")  # not RE2 syntax: refused, never a crash


def test_a_name_with_a_trailing_newline_is_refused(tmp_path):
    from sectors.tests.bundles import MANIFEST

    bundle_dir = write_bundle(tmp_path, manifest=MANIFEST.replace(
        'name = "donations"', 'name = "donations\\n"', 1))
    report = validate(load_dir(bundle_dir), review=False)
    assert any(p.code == "manifest_schema" and p.path == "$.name" for p in report.problems), \
        report.problems
