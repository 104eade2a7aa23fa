from django.urls import path

from notify.api import views

urlpatterns = [
    path("webhooks/", views.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<uuid:pk>/", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:pk>/rotate-secret/", views.WebhookRotateSecretView.as_view(),
         name="webhook-rotate-secret"),
    path("webhook-deliveries/", views.DeliveryListView.as_view(), name="webhook-delivery-list"),
    path("webhook-deliveries/<uuid:pk>/", views.DeliveryDetailView.as_view(),
         name="webhook-delivery-detail"),
    path("webhook-deliveries/<uuid:pk>/replay/", views.DeliveryReplayView.as_view(),
         name="webhook-delivery-replay"),
]
