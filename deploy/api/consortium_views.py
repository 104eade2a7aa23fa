"""Consortium API: the owner invites tenants to a network; invited tenants accept or
decline; everyone in the network lists its members.

Owner side (under the network): ``GET/POST networks/{id}/invitations/``,
``DELETE networks/{id}/invitations/{iid}/``, ``GET networks/{id}/members/``,
``DELETE networks/{id}/members/{slug}/`` (the owner removes a member, or a member leaves).
Invited side: ``GET consortium-invitations/`` (pending ones addressed to the current
tenant), ``GET consortium-invitations/{id}/``, ``POST .../accept/``, ``POST .../decline/``.
"""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from baas.tenancy import TenantScopedViewSet
from deploy import consortium, selectors
from deploy.api.serializers import OperationSerializer
from deploy.choices import ConsortiumRole
from deploy.models import ConsortiumInvitation, NetworkMembership
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS


class InvitationSerializer(serializers.ModelSerializer):
    network = serializers.SerializerMethodField()
    invited_tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    status = serializers.CharField(source="effective_status", read_only=True)

    class Meta:
        model = ConsortiumInvitation
        fields = ["id", "network", "invited_tenant", "role", "status", "expires_at",
                  "decided_at", "created_at"]
        read_only_fields = fields

    def get_network(self, inv: ConsortiumInvitation) -> dict:
        n = inv.network
        return {"id": str(n.pk), "name": n.name, "chain_id": n.chain_id,
                "owner": n.tenant.slug}


class InvitationCreateSerializer(serializers.Serializer):
    tenant = serializers.SlugField(help_text="slug of the organisation to invite")
    role = serializers.CharField(default=ConsortiumRole.VALIDATOR,
                                 help_text=f"one of: {', '.join(ConsortiumRole.values)}")


class MemberSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    organisation_registered = serializers.SerializerMethodField()

    class Meta:
        model = NetworkMembership
        fields = ["tenant", "role", "joined_at", "organisation_registered"]
        read_only_fields = fields

    def get_organisation_registered(self, m: NetworkMembership) -> bool:
        return m.org_registered_at is not None


class NetworkInvitationViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The owner's invitations of one network."""

    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    serializer_class = InvitationSerializer
    queryset = ConsortiumInvitation.objects.all()
    action_roles = {"create": "admin", "destroy": "admin"}

    def _network(self) -> Any:
        return selectors.network_get(tenant=self.tenant, network_id=self.kwargs["network_pk"])

    def get_queryset(self):
        return consortium.invitations_sent(tenant=self.tenant, network=self._network())

    def create(self, request: Request, network_pk: str) -> Response:
        network = self._network()  # another tenant's network is a 404 before any 400
        data = InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inv = consortium.invitation_create(
            tenant=self.tenant, actor=request.user, network=network,
            invited_slug=data.validated_data["tenant"], role=data.validated_data["role"],
            request=request,
        )
        return Response(InvitationSerializer(inv).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, network_pk: str, pk: str | None = None) -> Response:
        inv = self.get_object()
        inv = consortium.invitation_revoke(tenant=self.tenant, actor=request.user,
                                           invitation=inv, request=request)
        return Response(InvitationSerializer(inv).data)


class NetworkMemberViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """Members of a network, readable by its owner and by every member. ``DELETE
    members/{slug}/``: the owner removes a member, or a member leaves (202, an operation)."""

    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    serializer_class = MemberSerializer
    queryset = NetworkMembership.objects.all()
    action_roles = {"destroy": "admin"}

    def get_queryset(self):
        network = selectors.network_get(tenant=self.tenant,
                                        network_id=self.kwargs["network_pk"])
        return consortium.members(network=network)

    def destroy(self, request: Request, network_pk: str, slug: str) -> Response:
        network = selectors.network_get(tenant=self.tenant, network_id=network_pk)
        op = consortium.member_remove(tenant=self.tenant, actor=request.user, network=network,
                                      member_slug=slug, request=request)
        return Response({"operation": OperationSerializer(op).data},
                        status=status.HTTP_202_ACCEPTED)


class ReceivedInvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                                TenantScopedViewSet):
    """Invitations addressed to the current tenant."""

    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    serializer_class = InvitationSerializer
    queryset = ConsortiumInvitation.objects.all()
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    action_roles = {"accept": "admin", "decline": "admin"}

    def get_queryset(self):
        if self.action == "list":
            return consortium.invitations_received(tenant=self.tenant)
        return ConsortiumInvitation.objects.filter(invited_tenant=self.tenant) \
            .select_related("network", "network__tenant")

    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        inv = self.get_object()
        membership, op = consortium.invitation_accept(
            tenant=self.tenant, actor=request.user, invitation=inv, request=request)
        inv.refresh_from_db()
        body = {"invitation": InvitationSerializer(inv).data,
                "membership": MemberSerializer(membership).data,
                "operation": OperationSerializer(op).data if op else None}
        return Response(body, status=status.HTTP_200_OK)

    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        inv = consortium.invitation_decline(tenant=self.tenant, actor=request.user,
                                            invitation=self.get_object(), request=request)
        return Response(InvitationSerializer(inv).data)
