"""``/api/v1/networks/{id}/explorer/...``: what the chain holds, for reading."""

from django.urls import path

from explorer.api import views

NET = "networks/<uuid:network_pk>/explorer/"

urlpatterns = [
    path(NET, views.OverviewView.as_view(), name="explorer-overview"),
    path(NET + "blocks/", views.BlocksView.as_view(), name="explorer-blocks"),
    path(NET + "blocks/<int:height>/", views.BlockView.as_view(), name="explorer-block"),
    path(NET + "txs/<str:tx_hash>/", views.TxView.as_view(), name="explorer-tx"),
    path(NET + "search/", views.SearchView.as_view(), name="explorer-search"),
    path(NET + "validators/", views.ValidatorsView.as_view(), name="explorer-validators"),
    path(NET + "chaincodes/", views.ChaincodesView.as_view(), name="explorer-chaincodes"),
    path(NET + "state/<str:chaincode>/", views.StateView.as_view(), name="explorer-state"),
    path(NET + "state/<str:chaincode>/proof/", views.ProofView.as_view(),
         name="explorer-proof"),
]
