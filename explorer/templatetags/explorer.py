"""Template filters of the explorer pages."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def as_json(value: Any) -> str:
    """A decoded ledger value shown as the JSON it was (escaped by the template)."""
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.filter
def split_words(value: str) -> list[str]:
    return value.split()
