from django.urls import path

from monitor import views

app_name = "monitor"
urlpatterns = [
    path("networks/<uuid:network_id>/activity/", views.network_activity,
         name="network-activity"),
]
