"""The public DID resolver's URL (Universal Resolver driver interface), included at the root
by ``baas/urls.py``: ``/1.0/identifiers/<did>``."""

from django.urls import path

from identity.resolver_views import identifiers

urlpatterns = [
    path("1.0/identifiers/<path:did>", identifiers, name="did-resolver"),
]
