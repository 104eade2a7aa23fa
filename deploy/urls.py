"""Portal URLs for networks (included at ``/`` by ``baas/urls.py``), namespace ``deploy``."""

from django.urls import path

from deploy import views

app_name = "deploy"

urlpatterns = [
    path("staff/networks/", views.staff_networks, name="staff-networks"),
    path("networks/", views.network_list, name="network-list"),
    path("networks/<uuid:network_id>/", views.network_detail, name="network-detail"),
    path("networks/<uuid:network_id>/<str:action>/", views.network_action,
         name="network-action"),
    path("networks/<uuid:network_id>/nodes/<uuid:node_id>/logs/", views.node_logs,
         name="node-logs"),
    path("networks/<uuid:network_id>/nodes/<uuid:node_id>/remove/", views.node_remove,
         name="node-remove"),
]
