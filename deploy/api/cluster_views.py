"""``/api/v1/clusters/``: the Kubernetes clusters a tenant's networks may run on.

Listed: the tenant's own clusters and the platform's. Registering, checking again and
removing are for admins and owners (``deploy`` scope on tokens), through
``deploy.services.clusters``; the kubeconfig goes in once and never comes out.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from baas.tenancy import TenantScopedViewSet
from deploy import selectors
from deploy.api.serializers import ClusterCreateSerializer, ClusterSerializer
from deploy.models import Cluster
from deploy.services import clusters
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS


class ClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    serializer_class = ClusterSerializer
    queryset = Cluster.objects.all()
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    action_roles = {"create": "admin", "destroy": "admin", "check": "admin"}

    def get_queryset(self):
        return selectors.cluster_list(tenant=self.tenant)

    @extend_schema(request=ClusterCreateSerializer, responses={201: ClusterSerializer})
    def create(self, request: Request) -> Response:
        """Register a cluster: its kubeconfig is checked (reachable, TLS verified,
        credentials accepted, every right the driver needs) and stored sealed, or refused
        with the code of what failed and nothing stored."""
        body = request.data if isinstance(request.data, dict) else {}
        cluster = clusters.cluster_register(
            tenant=self.tenant, actor=request.user, name=body.get("name"),
            kubeconfig=body.get("kubeconfig"), context=body.get("context"), request=request)
        return Response(ClusterSerializer(cluster).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/v1/clusters/{cluster.pk}/"})

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Forget a cluster no network uses (409 ``cluster_in_use`` otherwise); nothing on
        the cluster is touched."""
        clusters.cluster_delete(tenant=self.tenant, actor=request.user,
                                cluster=self.get_object(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ClusterSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Check the cluster again with its stored kubeconfig; ``status`` and ``error`` say
        how it went."""
        cluster = clusters.cluster_check(tenant=self.tenant, actor=request.user,
                                         cluster=self.get_object(), request=request)
        return Response(ClusterSerializer(cluster).data)
