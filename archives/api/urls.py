from django.urls import path

from archives.api import views

urlpatterns = [
    path("networks/<uuid:network_pk>/exports/", views.NetworkExportsView.as_view(),
         name="network-exports"),
    path("networks/<uuid:network_pk>/backups/", views.NetworkBackupsView.as_view(),
         name="network-backups"),
    path("networks/<uuid:network_pk>/backup-schedule/", views.BackupScheduleView.as_view(),
         name="network-backup-schedule"),
    path("archives/", views.ArchiveListView.as_view(), name="archive-list"),
    path("archives/<uuid:pk>/", views.ArchiveDetailView.as_view(), name="archive-detail"),
    path("archives/<uuid:pk>/download/", views.ArchiveDownloadView.as_view(),
         name="archive-download"),
    path("restores/", views.RestoreView.as_view(), name="restores"),
]
