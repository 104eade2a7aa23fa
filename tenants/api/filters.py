"""django-filter filter sets for list endpoints (``?action=...&since=...``)."""

import django_filters

from baas.filters import StrictBooleanFilter, StrictFilterSet
from tenants.models import AuditEvent


class AuditEventFilter(StrictFilterSet):
    action = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor_email", lookup_expr="iexact")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target_type", "target_id", "since", "until"]


class StaffAuditEventFilter(AuditEventFilter):
    """Staff read every tenant's log: ``?tenant=<slug>`` narrows it to one tenant,
    ``?platform=true`` to events of no tenant (logins, logouts, sign-up attempts)."""

    tenant = django_filters.CharFilter(field_name="tenant__slug")
    platform = StrictBooleanFilter(field_name="tenant", lookup_expr="isnull")

    class Meta(AuditEventFilter.Meta):
        fields = [*AuditEventFilter.Meta.fields, "tenant", "platform"]
