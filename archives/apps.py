from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    name = "archives"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from archives import operation_kinds

        operation_kinds.register()
