"""``/api/v1/networks/...``: networks, their nodes and the gateway."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from deploy.api import (
    chaincode_views,
    cluster_views,
    consortium_views,
    gateway_views,
    staff_views,
)
from deploy.api.views import NetworkViewSet, NodeViewSet

router = SimpleRouter()
router.register("networks", NetworkViewSet, basename="network")
router.register("clusters", cluster_views.ClusterViewSet, basename="cluster")
router.register("consortium-invitations", consortium_views.ReceivedInvitationViewSet,
                basename="consortium-invitation")

invitations = consortium_views.NetworkInvitationViewSet.as_view({"get": "list", "post": "create"})
invitation = consortium_views.NetworkInvitationViewSet.as_view({"delete": "destroy"})
members = consortium_views.NetworkMemberViewSet.as_view({"get": "list"})
member = consortium_views.NetworkMemberViewSet.as_view({"delete": "destroy"})

node_list = NodeViewSet.as_view({"get": "list"})
node_detail = NodeViewSet.as_view({"get": "retrieve", "delete": "destroy"})
node_logs = NodeViewSet.as_view({"get": "logs"})
node_metrics = NodeViewSet.as_view({"get": "metrics"})
node_restart = NodeViewSet.as_view({"post": "restart"})

NET = "networks/<uuid:network_pk>/"
urlpatterns = [
    # Staff-only (404 for everyone else); before the router so nothing shadows them.
    path("staff/networks/", staff_views.OnBehalfCreateView.as_view(), name="staff-network-create"),
    path("staff/networks/pending/", staff_views.PendingNetworksView.as_view(),
         name="staff-network-pending"),
    path(NET + "approve/", staff_views.ApproveView.as_view(), name="network-approve"),
    path(NET + "reject/", staff_views.RejectView.as_view(), name="network-reject"),
    *router.urls,
    path(NET + "invitations/", invitations, name="network-invitation-list"),
    path(NET + "invitations/<uuid:pk>/", invitation, name="network-invitation-detail"),
    path(NET + "members/", members, name="network-member-list"),
    path(NET + "members/<slug:slug>/", member, name="network-member-detail"),
    path(NET + "nodes/", node_list, name="network-node-list"),
    path(NET + "nodes/<uuid:pk>/", node_detail, name="network-node-detail"),
    path(NET + "nodes/<uuid:pk>/logs/", node_logs, name="network-node-logs"),
    path(NET + "nodes/<uuid:pk>/metrics/", node_metrics, name="network-node-metrics"),
    path(NET + "nodes/<uuid:pk>/restart/", node_restart, name="network-node-restart"),
    path(NET + "chaincodes/", chaincode_views.ChaincodeView.as_view(), name="network-chaincodes"),
    path(NET + "gateway/tx/", gateway_views.TxView.as_view(), name="gateway-tx"),
    path(NET + "gateway/query/", gateway_views.QueryView.as_view(), name="gateway-query"),
    path(NET + "gateway/blocks/", gateway_views.BlocksView.as_view(), name="gateway-blocks"),
    path(NET + "gateway/blocks/<int:height>/", gateway_views.BlockView.as_view(),
         name="gateway-block"),
    path(NET + "gateway/txs/<str:tx_hash>/", gateway_views.TxDetailView.as_view(),
         name="gateway-tx-detail"),
    path(NET + "gateway/events/", gateway_views.EventsView.as_view(), name="gateway-events"),
]
