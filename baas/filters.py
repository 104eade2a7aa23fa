"""Filter sets that refuse what they do not understand (issue 8).

django-filter ignores query parameters it has no filter for, and a ``BooleanFilter`` treats
``?platform=maybe`` as "no filter": both answer 200 with an unfiltered list, so a typo
(``?stauts=running``) or a bad value looks like a real, empty or full, answer. A
``StrictFilterSet`` answers ``400 validation_failed`` naming the parameter instead:

- a parameter that is neither one of its filters nor one of ``GENERAL_PARAMETERS``;
- a boolean that is not ``true``/``false`` (``1``/``0`` too);
- a choice outside its choices (django-filter's own ``ChoiceFilter`` check);
- a date-time it cannot hand to the database: every date-time filter value is turned into
  UTC first (PostgreSQL refuses offsets past ±15:59, which ISO 8601 allows, with a 500),
  and one that leaves the representable years is refused.

Every list endpoint's filter set derives from it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import django_filters
from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

# Parameters every list endpoint understands besides its filters.
GENERAL_PARAMETERS = frozenset({"page", "page_size", "tenant", "format", "as"})


class StrictBooleanField(forms.Field):
    TRUE = frozenset({"true", "1"})
    FALSE = frozenset({"false", "0"})

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(_("Enter true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(_("Enter a date and time between the years 1 and 9999."),
                                        code="invalid") from None


class StrictFilterSet(django_filters.FilterSet):
    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for flt in self.filters.values():
            if isinstance(flt, django_filters.DateTimeFilter):
                flt.field_class = UtcIsoDateTimeField

    def is_valid(self) -> bool:
        valid = super().is_valid()
        unknown = sorted(set(self.data) - set(self.filters) - GENERAL_PARAMETERS)
        known = ", ".join(sorted(self.filters))
        for name in unknown:
            message = _("Unknown filter. Known filters: %(known)s.") % {"known": known}
            self.form.errors.setdefault(name, self.form.error_class()).append(str(message))
        return valid and not unknown
