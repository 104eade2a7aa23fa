"""Top-level URLs: the portal, the REST API v1, health probes and the admin."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerView

from baas.views import api_not_found, favicon

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("baas.api_urls")),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last of the API: any other /api/... URL answers the JSON error shape, also with
    # DEBUG on (Django's debug 404 page would list every URL pattern instead).
    re_path(r"^api/", api_not_found),
    path("favicon.ico", favicon),
    path("", include("baas.health_urls")),
    path("", include("identity.resolver_urls")),  # the public DID resolver, /1.0/identifiers/
    path("", include("tenants.urls")),
    # Before deploy's: its ``networks/<id>/<action>/`` would catch ``.../deployments/``
    # and ``.../activity/``.
    path("", include("sectors.urls")),
    path("", include("elections.urls")),  # a voting deployment's pages, after sectors'
    path("", include("monitor.urls")),
    path("", include("identity.urls")),
    path("", include("notify.urls")),
    path("", include("archives.urls")),
    path("", include("explorer.urls")),  # before deploy's, like sectors'
    path("", include("deploy.urls")),
]

handler400 = "baas.views.handler400"
handler404 = "baas.views.handler404"
handler500 = "baas.views.handler500"
