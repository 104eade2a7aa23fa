"""The words for stored codes (``baas.messages``): every kind, step and audit action the code
writes has an entry, each is translated to Korean with the same placeholders, and rendering
never fails on codes or rows it does not know."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from baas.messages import (
    AUDIT_ACTIONS,
    OPERATION_KINDS,
    OPERATION_STEPS,
    audit_action_label,
    operation_kind_label,
    operation_step_text,
    step_message,
)

APPS = ("baas", "deploy", "tenants", "sectors")


def _sources() -> list[Path]:
    base = Path(settings.BASE_DIR)
    return [p for app in APPS for p in (base / app).rglob("*.py")
            if "tests" not in p.parts and "migrations" not in p.parts]


def _written(pattern: str) -> set[str]:
    found: set[str] = set()
    for path in _sources():
        found.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return found


def test_every_operation_kind_in_the_code_has_words():
    from deploy.choices import OperationKind

    kinds = set(OperationKind.values) | _written(r'kind="([a-z_]+\.[a-z_]+)"')
    assert kinds, "found no kinds: the scan is broken"
    assert sorted(kinds - set(OPERATION_KINDS)) == []


def test_every_audit_action_in_the_code_has_words():
    from deploy.choices import OperationKind

    actions = _written(r'action="([a-z_]+\.[a-z_]+)"')
    # deploy's lifecycle services audit with the operation kind as the action.
    actions |= {OperationKind.NETWORK_START, OperationKind.NETWORK_STOP,
                OperationKind.NETWORK_DELETE}
    assert len(actions) > 20, "found too few actions: the scan is broken"
    assert sorted(actions - set(AUDIT_ACTIONS)) == []


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("catalogue", [OPERATION_KINDS, AUDIT_ACTIONS, OPERATION_STEPS],
                         ids=["kinds", "actions", "steps"])
def test_every_entry_reads_in_korean_with_the_same_placeholders(catalogue):
    untranslated, mismatched = [], []
    for code, text in catalogue.items():
        with translation.override("en"):
            english = str(text)
        with translation.override("ko"):
            korean = str(text)
        if korean == english:
            untranslated.append(code)
        if _fields(korean) != _fields(english):
            mismatched.append(code)
    assert untranslated == [] and mismatched == []


def test_the_six_lifecycle_step_codes_exist():
    for code in ("queued", "running", "succeeded", "failed", "cancelled", "superseded"):
        assert code in OPERATION_STEPS


def test_a_step_with_a_code_renders_in_the_readers_language():
    step = {"time": "2026-12-04T15:42:00+00:00", "code": "node_started",
            "params": {"node": "acme-0"}, "message": "Started acme-0"}
    with translation.override("en"):
        assert operation_step_text(step) == "Started acme-0"
    with translation.override("ko"):
        assert operation_step_text(step) == "acme-0을(를) 시작했습니다"


def test_old_rows_and_unknown_codes_fall_back_to_the_stored_message():
    with translation.override("ko"):
        # an older row: free English text, shown as stored ...
        assert operation_step_text({"message": "the moon is full"}) == "the moon is full"
        # ... unless this code base wrote it: then it is recognised, values and all
        assert operation_step_text({"message": "queued"}) == "대기 중"
        assert operation_step_text({"message": "started acme-0"}) == "acme-0을(를) 시작했습니다"
        assert operation_step_text(
            {"message": "started acme-0; asking the chain to add it"}
        ) == "acme-0을(를) 시작했습니다. 체인에 추가를 요청하는 중"
        assert operation_step_text(
            {"message": "the reconciler found acme-0 not running: exited with code 1"}
        ) == "조정기가 acme-0이(가) 실행 중이 아님을 발견했습니다: exited with code 1"
        assert operation_step_text({"code": "from_the_future", "params": {},
                                    "message": "Something new"}) == "Something new"
        # a known code missing a parameter: the message, not a KeyError
        assert operation_step_text({"code": "node_started", "params": {},
                                    "message": "Started ?"}) == "Started ?"
        assert operation_step_text({}) == ""


def test_params_are_values_only():
    step = {"code": "node_started", "params": {"node": "{node.__class__}"}, "message": "x"}
    with translation.override("en"):
        assert operation_step_text(step) == "Started {node.__class__}"


def test_step_message_stores_the_english_text_whatever_the_language():
    with translation.override("ko"):
        stored = step_message("network_running", height=7)
    assert stored == {"code": "network_running", "params": {"height": 7},
                      "message": "Running: block 7 committed"}


def test_labels_in_korean_and_unknown_codes_as_themselves():
    with translation.override("ko"):
        assert operation_kind_label("network.create") == "네트워크 만들기"
        assert audit_action_label("consortium.invite") == "네트워크에 조직 초대"
        assert operation_kind_label("sector.deploy") == "sector.deploy"
        assert audit_action_label("tenant.something_new") == "tenant.something_new"


def test_every_legacy_text_maps_to_a_known_code_with_its_placeholders():
    from baas.messages import _LEGACY_FORMATS, _LEGACY_MESSAGES

    for fmt, code in {**_LEGACY_FORMATS, **_LEGACY_MESSAGES}.items():
        assert code in OPERATION_STEPS, fmt
        with translation.override("en"):
            assert _fields(fmt) == _fields(str(OPERATION_STEPS[code])), fmt
