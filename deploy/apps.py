from django.apps import AppConfig


class DeployConfig(AppConfig):
    name = "deploy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from baas.metrics import register_collector
        from baas.quotas import register_usage
        from deploy import operation_kinds, selectors
        from deploy.drivers import registry
        from deploy.services import keys
        from tenants.models import ApiToken, Membership

        operation_kinds.register()
        # Networks on a registered cluster get a driver with its kubeconfig.
        registry.set_network_options(selectors.cluster_driver_options)
        register_usage("max_networks", _network_count)
        register_collector(selectors.fleet_metrics)
        # A person's or a token's signing keys end with the membership or the token.
        post_delete.connect(keys.on_membership_deleted, sender=Membership,
                            dispatch_uid="deploy.keys.membership")
        post_save.connect(keys.on_token_saved, sender=ApiToken, dispatch_uid="deploy.keys.token")


def _network_count(tenant) -> int:  # type: ignore[no-untyped-def]
    # The same count network_create checks the quota against.
    from deploy.choices import NETWORK_COUNTED
    from deploy.models import Network

    return Network.objects.filter(tenant=tenant, status__in=NETWORK_COUNTED).count()
