from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """DIDs of tenants and their people, the networks' DID registries and the resolver.

    The DID library itself (``identity.did``) is pure Python and knows nothing of Django.
    """

    name = "identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from identity.models import DidRegistry

        # The resolver caches which network a namespace names and whether it is public;
        # any save of a registry (the admin's included) drops that at once.
        post_save.connect(_registry_changed, sender=DidRegistry,
                          dispatch_uid="identity.registry.saved")
        post_delete.connect(_registry_changed, sender=DidRegistry,
                            dispatch_uid="identity.registry.deleted")


def _registry_changed(sender, instance, **kwargs) -> None:  # type: ignore[no-untyped-def]
    from django.db import transaction

    from identity.ledger_reader import forget_registry

    forget_registry(instance.namespace)
    transaction.on_commit(lambda: forget_registry(instance.namespace))
