"""Forms generated from a function's JSON Schema ``args`` (docs/templates.md).

The pages of a template are not written per bundle: every function's form is built at run
time from the ``args`` schema of its manifest entry, and what a reader submits is parsed
back into the ``args`` object the service validates and sends to the chain.

Supported property types: ``string`` (``maxLength``, ``minLength``, ``pattern``, ``enum``),
``integer`` (``minimum``, ``maximum``, ``enum``), ``boolean`` (a checkbox), and ``array`` of
strings (one per line, or checkboxes when the items have an ``enum``). Anything else is a
JSON text field. Labels come from ``"x-label": {"en": ..., "ko": ...}`` in the reader's
language (``get_language()``), falling back to English, then to the property's name.

Every widget carries ``data-arg-type`` and ``data-arg`` so the public page's script
(``static/sectors/public.js``) can build the same ``args`` object in the browser.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from sectors import manifest

# Properties a form can carry; a schema beyond this is a page problem, not a crash.
MAX_FIELDS = 50
MAX_TEXT = 10_000


def reader_language() -> str:
    return "ko" if (get_language() or "").lower().startswith("ko") else "en"


def localised(obj: Any, lang: str | None = None) -> str:
    """``{"en": ..., "ko": ...}`` in ``lang`` (default: the reader's language), else
    English; a plain string as itself (``sectors.manifest.text``)."""
    return manifest.text(obj, lang or reader_language())


def properties(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The ``properties`` of an ``args`` schema, in declaration order."""
    props = (schema or {}).get("properties") or {}
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in
            list(props.items())[:MAX_FIELDS]}


def required_names(schema: dict[str, Any] | None) -> set[str]:
    return {str(n) for n in (schema or {}).get("required") or []}


def field_label(name: str, prop: dict[str, Any]) -> str:
    label = localised(prop.get("x-label")) if prop.get("x-label") else ""
    return label or prop.get("title") or name.replace("_", " ").capitalize()


def _attrs(name: str, kind: str) -> dict[str, str]:
    return {"data-arg": name, "data-arg-type": kind}


class BoundedJSONField(forms.JSONField):
    """A JSON value typed into a form, refused before parsing when it nests deeper than the
    ledger could carry (``json.loads`` recurses per level: a hundred thousand ``[`` is a
    RecursionError, which Django's field does not catch)."""

    def to_python(self, value: Any) -> Any:
        from baas.errors import AppError
        from baas.parsers import check_depth

        if isinstance(value, str):
            try:
                check_depth(value)
            except AppError:
                raise ValidationError(_("The value nests too deeply."), code="invalid") \
                    from None
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(_("The value nests too deeply."), code="invalid") from None


class PatternValidator:
    """A schema's ``pattern`` on RE2 (``sectors.schemas``): linear time whatever the pattern,
    where Django's RegexValidator would backtrack on Python's ``re``. A pattern RE2 cannot
    run refuses every value (such templates are refused at upload)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __call__(self, value: Any) -> None:
        from sectors.schemas import compiled, pattern_problem

        if pattern_problem(self.pattern) or compiled(self.pattern).search(str(value)) is None:
            raise ValidationError(_("Enter a value in the expected format."), code="invalid")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PatternValidator) and other.pattern == self.pattern


def _string_field(name: str, prop: dict[str, Any], required: bool, common: dict) -> forms.Field:
    if isinstance(prop.get("enum"), list):
        choices = [(str(v), str(v)) for v in prop["enum"]]
        if not required:
            choices = [("", "—"), *choices]
        return forms.ChoiceField(choices=choices,
                                 widget=forms.Select(attrs=_attrs(name, "string")), **common)
    validators = []
    if isinstance(prop.get("pattern"), str):
        validators.append(PatternValidator(prop["pattern"]))
    max_length = prop.get("maxLength")
    multiline = isinstance(max_length, int) and max_length > 200
    widget_cls = forms.Textarea if multiline else forms.TextInput
    widget_attrs = _attrs(name, "string")
    if multiline:
        widget_attrs["rows"] = "3"
    return forms.CharField(
        max_length=max_length if isinstance(max_length, int) else MAX_TEXT,
        min_length=prop.get("minLength") if isinstance(prop.get("minLength"), int) else None,
        validators=validators, strip=True, widget=widget_cls(attrs=widget_attrs), **common,
    )


def _integer_field(name: str, prop: dict[str, Any], required: bool, common: dict) -> forms.Field:
    if isinstance(prop.get("enum"), list):
        choices = [(v, str(v)) for v in prop["enum"] if isinstance(v, int)]
        if not required:
            choices = [("", "—"), *choices]
        return forms.TypedChoiceField(choices=choices, coerce=int, empty_value=None,
                                      widget=forms.Select(attrs=_attrs(name, "integer")),
                                      **common)
    minimum, maximum = prop.get("minimum"), prop.get("maximum")
    return forms.IntegerField(
        min_value=minimum if isinstance(minimum, int) else None,
        max_value=maximum if isinstance(maximum, int) else None,
        widget=forms.NumberInput(attrs=_attrs(name, "integer")), **common,
    )


class LinesField(forms.CharField):
    """A list of strings, one per line (blank lines dropped)."""

    def __init__(self, *, item: dict[str, Any], min_items: int | None,
                 max_items: int | None, **kwargs: Any) -> None:
        self.item = item
        self.min_items = min_items
        self.max_items = max_items
        self.item_validators = []
        if isinstance(item.get("pattern"), str):
            self.item_validators.append(PatternValidator(item["pattern"]))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [line.strip() for line in text.splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:  # type: ignore[override]
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        if self.min_items is not None and value and len(value) < self.min_items:
            raise forms.ValidationError(
                _("Enter at least %(count)s lines.") % {"count": self.min_items})
        if self.max_items is not None and len(value) > self.max_items:
            raise forms.ValidationError(
                _("Enter at most %(count)s lines.") % {"count": self.max_items})
        max_length = self.item.get("maxLength")
        for line in value:
            if isinstance(max_length, int) and len(line) > max_length:
                raise forms.ValidationError(
                    _("Each line may have at most %(count)s characters.")
                    % {"count": max_length})
            for validator in self.item_validators:
                validator(line)

    def run_validators(self, value: Any) -> None:
        return None  # CharField's max_length applies to the whole text: see validate()


def _array_field(name: str, prop: dict[str, Any], required: bool, common: dict) -> forms.Field:
    item = prop.get("items") if isinstance(prop.get("items"), dict) else {}
    if isinstance(item.get("enum"), list):
        return forms.MultipleChoiceField(
            choices=[(str(v), str(v)) for v in item["enum"]],
            widget=forms.CheckboxSelectMultiple(attrs=_attrs(name, "array")), **common)
    help_text = common.pop("help_text", "") or _("One per line.")
    return LinesField(
        item=item,
        min_items=prop.get("minItems") if isinstance(prop.get("minItems"), int) else None,
        max_items=prop.get("maxItems") if isinstance(prop.get("maxItems"), int) else None,
        max_length=MAX_TEXT, help_text=help_text,
        widget=forms.Textarea(attrs={**_attrs(name, "array"), "rows": "3"}), **common,
    )


def build_field(name: str, prop: dict[str, Any], required: bool) -> forms.Field:
    common: dict[str, Any] = {
        "label": field_label(name, prop),
        "required": required,
        "help_text": localised(prop["x-help"]) if prop.get("x-help") else "",
    }
    kind = prop.get("type")
    if kind == "string" or (kind is None and isinstance(prop.get("enum"), list)):
        return _string_field(name, prop, required, common)
    if kind == "integer":
        return _integer_field(name, prop, required, common)
    if kind == "boolean":
        common["required"] = False  # an unchecked box is False, not missing
        return forms.BooleanField(widget=forms.CheckboxInput(attrs=_attrs(name, "boolean")),
                                  **common)
    if kind == "array":
        item_type = (prop.get("items") or {}).get("type") if isinstance(
            prop.get("items"), dict) else None
        if item_type in (None, "string"):
            return _array_field(name, prop, required, common)
    common["help_text"] = common["help_text"] or _("A JSON value.")
    return BoundedJSONField(widget=forms.Textarea(attrs={**_attrs(name, "json"), "rows": "3"}),
                           **common)


def form_class(schema: dict[str, Any] | None, *, name: str = "ArgsForm") -> type[forms.Form]:
    """A ``forms.Form`` subclass for an ``args`` schema, labelled in the reader's language
    (build it inside the request: the labels are read now)."""
    required = required_names(schema)
    fields = {prop_name: build_field(prop_name, prop, prop_name in required)
              for prop_name, prop in properties(schema).items()}
    return type(name, (forms.Form,), {**fields, "schema": schema or {}})


def args_from(schema: dict[str, Any] | None, cleaned: dict[str, Any]) -> dict[str, Any]:
    """The ``args`` object from a valid form's ``cleaned_data``: integers as int, booleans as
    bool, empty optional fields left out."""
    required = required_names(schema)
    args: dict[str, Any] = {}
    for prop_name, prop in properties(schema).items():
        if prop_name not in cleaned:
            continue
        value = cleaned[prop_name]
        kind = prop.get("type")
        if kind == "boolean":
            args[prop_name] = bool(value)
            continue
        empty = value is None or value == "" or value == []
        if empty and prop_name not in required:
            continue
        if kind == "integer" and value is not None:
            value = int(value)
        args[prop_name] = value
    return args

