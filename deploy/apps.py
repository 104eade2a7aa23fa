from django.apps import AppConfig


class DeployConfig(AppConfig):
    name = "deploy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from baas.quotas import register_usage
        from deploy import operation_kinds

        operation_kinds.register()
        register_usage("max_networks", _network_count)


def _network_count(tenant) -> int:  # type: ignore[no-untyped-def]
    # The same count network_create checks the quota against.
    from deploy.choices import NETWORK_COUNTED
    from deploy.models import Network

    return Network.objects.filter(tenant=tenant, status__in=NETWORK_COUNTED).count()
