"""Portal URLs of the explorer (included at ``/`` by ``baas/urls.py``), namespace
``explorer``."""

from django.urls import path

from explorer import views

app_name = "explorer"

NET = "networks/<uuid:network_id>/explorer/"

urlpatterns = [
    path(NET, views.explorer_home, name="home"),
    path(NET + "blocks/", views.explorer_blocks, name="blocks"),
    path(NET + "blocks/<int:height>/", views.explorer_block, name="block"),
    path(NET + "txs/<str:tx_hash>/", views.explorer_tx, name="tx"),
    path(NET + "search/", views.explorer_search, name="search"),
    path(NET + "state/", views.explorer_state, name="state"),
]
