"""Portal URLs of DIDs (included at ``/`` by ``baas/urls.py``), namespace ``identity``."""

from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path("identity/", views.did_list, name="did-list"),
    path("identity/prepare/", views.prepare, name="prepare"),
    path("identity/registries/", views.registries, name="registries"),
    path("identity/registries/<uuid:network_id>/public/", views.registry_public,
         name="registry-public"),
    path("identity/<uuid:did_id>/", views.did_detail, name="did-detail"),
    path("identity/<uuid:did_id>/rotate/", views.did_rotate, name="did-rotate"),
    path("identity/<uuid:did_id>/deactivate/", views.did_deactivate, name="did-deactivate"),
]
