"""Top-level URLs: the portal, the REST API v1, health probes and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("baas.api_urls")),
    path("", include("baas.health_urls")),
    path("", include("tenants.urls")),
    path("", include("deploy.urls")),
]
