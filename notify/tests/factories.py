from __future__ import annotations

from baas import events
from notify import services


def subscription(tenant, url, *, types=(events.OPERATION_FINISHED,), name="hooks", actor=None):
    """A subscription and its secret, made through the service (sealed like a real one)."""
    return services.subscription_create(tenant=tenant, actor=actor, name=name, url=url,
                                        event_types=list(types))
