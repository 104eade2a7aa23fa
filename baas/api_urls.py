"""REST API v1: every app's ``api/urls.py`` is included here, under ``/api/v1/``."""

from importlib.util import find_spec

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns: list = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("baas.api.urls")),
]

# Apps that expose API endpoints. An app's API is included once its ``api/urls.py`` exists,
# so ``deploy`` and ``sectors`` can add theirs without touching this file.
for _app in ("tenants", "deploy", "sectors", "monitor", "identity", "notify", "archives",
             "explorer"):
    if find_spec(f"{_app}.api") is not None and find_spec(f"{_app}.api.urls") is not None:
        urlpatterns.append(path("", include(f"{_app}.api.urls")))
