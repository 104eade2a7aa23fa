from django.urls import path

from identity.api import views

urlpatterns = [
    path("networks/<uuid:network_pk>/did-registry/", views.NetworkDidRegistryView.as_view(),
         name="network-did-registry"),
    path("dids/", views.DidListView.as_view(), name="did-list"),
    path("dids/prepare/", views.DidPrepareView.as_view(), name="did-prepare"),
    path("dids/<uuid:pk>/", views.DidDetailView.as_view(), name="did-detail"),
    path("dids/<uuid:pk>/prepare/", views.DidChangePrepareView.as_view(),
         name="did-change-prepare"),
    path("dids/<uuid:pk>/rotate/", views.DidRotateView.as_view(), name="did-rotate"),
    path("dids/<uuid:pk>/deactivate/", views.DidDeactivateView.as_view(),
         name="did-deactivate"),
]
