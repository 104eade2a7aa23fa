from django.apps import AppConfig


class SectorsConfig(AppConfig):
    name = "sectors"
    default_auto_field = "django.db.models.BigAutoField"
