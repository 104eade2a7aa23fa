"""Portal URLs of exports and backups (included at ``/`` by ``baas/urls.py``), namespace
``archives``."""

from django.urls import path

from archives import views

app_name = "archives"

urlpatterns = [
    path("networks/<uuid:network_id>/archives/", views.network_archives,
         name="network-archives"),
    path("archives/<uuid:archive_id>/download/", views.archive_download,
         name="archive-download"),
]
