from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """DIDs of tenants and their people, the networks' DID registries and the resolver.

    The DID library itself (``identity.did``) is pure Python and knows nothing of Django.
    """

    name = "identity"
    default_auto_field = "django.db.models.BigAutoField"
