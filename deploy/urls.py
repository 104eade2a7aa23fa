"""Portal URLs for networks (included at ``/`` by ``baas/urls.py``), namespace ``deploy``."""

from django.urls import path

from deploy import cluster_pages, consortium_pages, views

app_name = "deploy"

urlpatterns = [
    path("staff/networks/", views.staff_networks, name="staff-networks"),
    path("networks/", views.network_list, name="network-list"),
    path("clusters/", cluster_pages.cluster_list, name="cluster-list"),
    path("clusters/<uuid:cluster_id>/check/", cluster_pages.cluster_check, name="cluster-check"),
    path("clusters/<uuid:cluster_id>/delete/", cluster_pages.cluster_delete,
         name="cluster-delete"),
    path("networks/<uuid:network_id>/", views.network_detail, name="network-detail"),
    # Consortium routes come before the generic ``<action>`` route that would catch them.
    path("networks/<uuid:network_id>/invite/", consortium_pages.network_invite,
         name="network-invite"),
    path("networks/<uuid:network_id>/invitations/<uuid:invitation_id>/revoke/",
         consortium_pages.invitation_revoke, name="invitation-revoke"),
    path("networks/<uuid:network_id>/members/<slug:slug>/remove/",
         consortium_pages.member_remove, name="member-remove"),
    path("consortium-invitations/<uuid:invitation_id>/<str:decision>/",
         consortium_pages.invitation_decide, name="invitation-decide"),
    path("networks/<uuid:network_id>/<str:action>/", views.network_action,
         name="network-action"),
    path("networks/<uuid:network_id>/nodes/<uuid:node_id>/logs/", views.node_logs,
         name="node-logs"),
    path("networks/<uuid:network_id>/nodes/<uuid:node_id>/remove/", views.node_remove,
         name="node-remove"),
]
