"""Portal URLs of webhooks (included at ``/`` by ``baas/urls.py``), namespace ``notify``."""

from django.urls import path

from notify import views

app_name = "notify"

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/<uuid:subscription_id>/", views.webhook_detail, name="webhook-detail"),
    path("webhooks/deliveries/<uuid:delivery_id>/", views.delivery_detail,
         name="delivery-detail"),
    path("webhooks/deliveries/<uuid:delivery_id>/replay/", views.delivery_replay,
         name="delivery-replay"),
]
