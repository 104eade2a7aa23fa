from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    name = "archives"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from archives import operation_kinds
        from archives.services import archive_in_progress
        from deploy.guards import register_busy_check

        operation_kinds.register()
        # deploy's validator, membership, chaincode and version changes wait for a copy.
        register_busy_check(archive_in_progress)
        from django.db.models.signals import post_delete

        from archives.models import Archive
        from archives.services import remove_file

        # Rows also go with their tenant or by cascade: the file goes with the row.
        post_delete.connect(remove_file, sender=Archive, dispatch_uid="archives.remove_file")
