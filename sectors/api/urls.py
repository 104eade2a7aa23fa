from django.urls import path

from sectors.api import views

urlpatterns = [
    path("templates/", views.TemplateListView.as_view(), name="template-list"),
    path("templates/validate/", views.TemplateValidateView.as_view(), name="template-validate"),
    path("templates/schema/", views.TemplateSchemaView.as_view(), name="template-schema"),
    path("templates/<uuid:pk>/", views.TemplateDetailView.as_view(), name="template-detail"),
    path("networks/<uuid:network_pk>/deployments/", views.NetworkDeploymentsView.as_view(),
         name="network-deployments"),
    path("deployments/<uuid:pk>/", views.DeploymentDetailView.as_view(),
         name="deployment-detail"),
    path("deployments/<uuid:pk>/approve/", views.DeploymentApproveView.as_view(),
         name="deployment-approve"),
    path("deployments/<uuid:pk>/call/", views.DeploymentCallView.as_view(),
         name="deployment-call"),
    path("deployments/<uuid:pk>/history/", views.DeploymentHistoryView.as_view(),
         name="deployment-history"),
]
