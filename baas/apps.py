from django.apps import AppConfig


class BaasConfig(AppConfig):
    name = "baas"
    verbose_name = "BaaS platform core"
    default_auto_field = "django.db.models.BigAutoField"
