"""Forms built from a function's ``args`` schema, and the args parsed back from them."""

from __future__ import annotations

import pytest
from django.utils import translation

from sectors import tables
from sectors.forms_schema import args_from, form_class, localised

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "goal"],
    "properties": {
        "id": {"type": "string", "maxLength": 16, "pattern": "^[a-z0-9-]+$",
               "x-label": {"en": "Campaign id", "ko": "캠페인 ID"}},
        "goal": {"type": "integer", "minimum": 1, "x-label": {"en": "Goal", "ko": "목표"}},
        "note": {"type": "string", "x-label": {"en": "Note"}},
        "urgent": {"type": "boolean", "x-label": {"en": "Urgent", "ko": "긴급"}},
        "currency": {"type": "string", "enum": ["KRW", "USD"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 2},
        "round": {"type": "integer"},
    },
}


def bound(data, schema=SCHEMA):
    return form_class(schema)(data)


def test_fields_follow_the_schema_in_declaration_order_with_english_labels():
    with translation.override("en"):
        form = form_class(SCHEMA)()
    assert list(form.fields) == ["id", "goal", "note", "urgent", "currency", "tags", "round"]
    assert form.fields["id"].label == "Campaign id"
    assert form.fields["goal"].label == "Goal"
    assert form.fields["currency"].label == "Currency"  # no x-label: the property name
    assert form.fields["id"].required and form.fields["goal"].required
    assert not form.fields["note"].required and not form.fields["urgent"].required
    assert form.fields["goal"].min_value == 1
    assert form.fields["id"].max_length == 16
    html = str(form["goal"])
    assert 'type="number"' in html and 'min="1"' in html and 'data-arg-type="integer"' in html


def test_labels_in_korean_fall_back_to_english():
    with translation.override("ko"):
        form = form_class(SCHEMA)()
    assert form.fields["id"].label == "캠페인 ID"
    assert form.fields["urgent"].label == "긴급"
    assert form.fields["note"].label == "Note"


def test_submitted_data_becomes_typed_args_without_empty_optional_fields():
    form = bound({"id": "c1", "goal": "1000", "note": "", "currency": "KRW",
                  "tags": "a\n\n b \n", "round": ""})
    assert form.is_valid(), form.errors
    args = args_from(SCHEMA, form.cleaned_data)
    assert args == {"id": "c1", "goal": 1000, "urgent": False, "currency": "KRW",
                    "tags": ["a", "b"]}
    assert isinstance(args["goal"], int)


def test_a_checked_box_is_true():
    form = bound({"id": "c1", "goal": "5", "urgent": "on"})
    assert form.is_valid(), form.errors
    assert args_from(SCHEMA, form.cleaned_data)["urgent"] is True


@pytest.mark.parametrize("data, field", [
    ({"goal": "5"}, "id"),                                # required
    ({"id": "c1"}, "goal"),
    ({"id": "C 1", "goal": "5"}, "id"),                   # pattern
    ({"id": "x" * 17, "goal": "5"}, "id"),                # maxLength
    ({"id": "c1", "goal": "0"}, "goal"),                  # minimum
    ({"id": "c1", "goal": "1.5"}, "goal"),                # not an integer
    ({"id": "c1", "goal": "5", "currency": "EUR"}, "currency"),  # enum
    ({"id": "c1", "goal": "5", "tags": "a\nb\nc"}, "tags"),      # maxItems
    ({"id": "c1", "goal": "5", "tags": "toolong"}, "tags"),      # items.maxLength
])
def test_every_schema_rule_is_a_field_error(data, field):
    form = bound(data)
    assert not form.is_valid()
    assert list(form.errors) == [field]


def test_an_integer_enum_is_a_choice_parsed_as_int():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2]}}}
    form = bound({"n": "2"}, schema)
    assert form.is_valid(), form.errors
    assert args_from(schema, form.cleaned_data) == {"n": 2}
    form = bound({"n": ""}, schema)
    assert form.is_valid(), form.errors
    assert args_from(schema, form.cleaned_data) == {}


def test_an_array_of_choices_is_checkboxes():
    schema = {"type": "object", "required": ["days"], "properties": {
        "days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue"]}}}}
    form = bound({"days": ["tue"]}, schema)
    assert form.is_valid(), form.errors
    assert args_from(schema, form.cleaned_data) == {"days": ["tue"]}
    assert not bound({}, schema).is_valid()


def test_no_schema_is_an_empty_form_and_empty_args():
    form = form_class(None)({})
    assert form.is_valid()
    assert args_from(None, form.cleaned_data) == {}


def test_an_unsupported_type_is_a_json_field():
    schema = {"type": "object", "properties": {"meta": {"type": "object"}}}
    form = bound({"meta": '{"a": 1}'}, schema)
    assert form.is_valid(), form.errors
    assert args_from(schema, form.cleaned_data) == {"meta": {"a": 1}}
    assert not bound({"meta": "{nope"}, schema).is_valid()


def test_localised_text():
    assert localised({"en": "Open", "ko": "모금 중"}, "ko") == "모금 중"
    assert localised({"en": "Open"}, "ko") == "Open"
    assert localised("plain", "ko") == "plain"
    assert localised(None, "en") == ""


def test_results_as_tables():
    rows = tables.table([{"id": "c1", "raised": 10}, {"id": "c2", "state": "open"}])
    assert rows.kind == "rows"
    assert rows.columns == ["id", "raised", "state"]
    assert rows.rows == [["c1", "10", ""], ["c2", "", "open"]]
    pairs = tables.table({"id": "c1", "open": True, "donors": ["a"]})
    assert pairs.kind == "pairs"
    assert pairs.rows == [["id", "c1"], ["open", "✓"], ["donors", '["a"]']]
    assert tables.table(42).kind == "value" and tables.table(42).value == "42"
    assert tables.table([]).kind == "empty"
