"""Validators shared by every app.

``validate_name`` is the one check every human-chosen name goes through (organisation,
person, token and network names, in API serializers and portal forms alike): no control or
format characters, so a name cannot hide text with a right-to-left override (U+202E), join
or split words invisibly with zero-width characters (U+200B-U+200D, U+2060, U+FEFF), or carry
line breaks, private-use or unassigned code points. ``tests/test_names.py`` finds every name
field and fails if one lacks it.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Unicode general categories refused in names: controls, format characters (bidi overrides,
# zero-width joiners and spaces), surrogates, private use, unassigned, line/paragraph breaks.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def validate_name(value: str) -> None:
    for ch in value or "":
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            raise ValidationError(
                _("Names cannot contain invisible or control characters (found U+%(code)s)."),
                code="invalid_characters",
                params={"code": f"{ord(ch):04X}"},
            )
