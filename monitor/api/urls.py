from django.urls import path

from monitor.api.views import ActivityView

urlpatterns = [
    path("networks/<uuid:network_pk>/activity/", ActivityView.as_view(),
         name="network-activity"),
]
