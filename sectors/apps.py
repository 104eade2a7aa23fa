from django.apps import AppConfig


class SectorsConfig(AppConfig):
    name = "sectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sectors import operation_kinds

        operation_kinds.register()
