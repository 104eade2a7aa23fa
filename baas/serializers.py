"""Serializer behaviour shared by every API (installed once, in ``BaasConfig.ready``).

**Integers are JSON integers.** DRF's ``IntegerField`` accepts ``"1"``, ``"1.0"`` and
``1.0`` as the integer 1, so the schema's ``type: integer`` was not what the API enforced,
and a number past what the database column holds reached the database and failed there
(a 500). ``make_integer_fields_strict`` makes every ``IntegerField`` of every serializer,
declared or generated from a model, accept only JSON integers (not booleans) and, without
an explicit ``max_value``/``min_value``, only the signed 64-bit range. Query parameters are
not parsed by serializers, so ``?limit=10`` is unaffected.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import fields

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_installed = False


def _strict_to_internal_value(self: fields.IntegerField, data: Any) -> int:
    if isinstance(data, bool) or not isinstance(data, int):
        self.fail("invalid")
    if self.max_value is None and data > INT64_MAX:
        self.fail("max_value", max_value=INT64_MAX)
    if self.min_value is None and data < INT64_MIN:
        self.fail("min_value", min_value=INT64_MIN)
    return data


def make_integer_fields_strict() -> None:
    global _installed
    if _installed:
        return
    fields.IntegerField.to_internal_value = _strict_to_internal_value  # type: ignore[method-assign]
    fields.IntegerField.default_error_messages = {
        **fields.IntegerField.default_error_messages,
        "invalid": _("A JSON integer is required (not a string, a float or a boolean)."),
    }
    _installed = True
