from __future__ import annotations

from django import template
from django.utils.formats import number_format

register = template.Library()

_BINARY = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


@register.simple_tag
def figure(value: float | None, unit: str = "") -> str:
    """A figure for people: localised digits, bytes in binary units, "–" for no figure."""
    if value is None:
        return "–"
    if unit == "B":
        for name, size in _BINARY:
            if value >= size:
                return f"{number_format(value / size, 1)} {name}"
        return f"{number_format(value, 0)} B"
    digits = 0 if value >= 100 or float(value).is_integer() else 2
    text = number_format(value, digits)
    return f"{text} {unit}".strip()
