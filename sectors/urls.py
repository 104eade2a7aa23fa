"""Portal URLs of templates and deployments (included at ``/`` by ``baas/urls.py``),
namespace ``sectors``; the public page of a deployment is under ``/p/``."""

from django.urls import path

from sectors import public_views, views

app_name = "sectors"

urlpatterns = [
    path("templates/", views.template_list, name="template-list"),
    path("templates/<uuid:template_id>/", views.template_detail, name="template-detail"),
    path("networks/<uuid:network_id>/deployments/", views.network_deployments,
         name="network-deployments"),
    path("deployments/<uuid:deployment_id>/", views.deployment_detail,
         name="deployment-detail"),
    path("deployments/<uuid:deployment_id>/approve/", views.deployment_approve,
         name="deployment-approve"),
    path("deployments/<uuid:deployment_id>/i/<str:instance_id>/", views.instance_detail,
         name="instance-detail"),
    path("p/<uuid:deployment_id>/", public_views.public_page, name="public-page"),
    path("p/<uuid:deployment_id>/prepare/", public_views.public_prepare,
         name="public-prepare"),
    path("p/<uuid:deployment_id>/submit/", public_views.public_submit, name="public-submit"),
    path("p/<uuid:deployment_id>/query/", public_views.public_query, name="public-query"),
]
