"""``{% organisation_did tenant %}``: the organisation's DID on its profile (the dashboard's
organisation card). ``tenants`` never imports ``identity``; its template loads this."""

from __future__ import annotations

from typing import Any

from django import template

from identity import selectors

register = template.Library()


@register.inclusion_tag("identity/_organisation_did.html")
def organisation_did(tenant: Any) -> dict[str, Any]:
    return {"did": selectors.organisation_did(tenant=tenant) if tenant is not None else None}
