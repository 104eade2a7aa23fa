from django.apps import AppConfig


class BaasConfig(AppConfig):
    name = "baas"
    verbose_name = "BaaS platform core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from baas.serializers import make_integer_fields_strict

        make_integer_fields_strict()
