"""``/api/v1/webhooks/`` (subscriptions) and ``/api/v1/webhook-deliveries/`` (what was
sent, replays): thin views over ``notify.selectors`` and ``notify.services``.

Everything here needs the admin role: a subscription sends the tenant's events to a URL of
its choosing. Tokens need ``read`` to read and ``write`` plus ``deploy`` to change, as for
other infrastructure: a token an application sends transactions with cannot redirect the
organisation's events.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.tenancy import TenantScopedMixin
from notify import selectors, services
from notify.api.serializers import (
    DeliveryDetailSerializer,
    DeliverySerializer,
    SecretSerializer,
    SubscriptionCreateSerializer,
    SubscriptionSerializer,
    SubscriptionUpdateSerializer,
    SubscriptionWithSecretSerializer,
)
from notify.models import Delivery, Subscription
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS


class _AdminOnly(TenantScopedMixin):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "admin"
    write_role = "admin"


# A secret is in the answer: no cache (a proxy's, the browser's) may keep it.
NO_STORE = {"Cache-Control": "no-store"}


class WebhookListView(_AdminOnly, generics.ListAPIView):
    """The organisation's webhooks, paginated (``?page=&page_size=``); never their secrets."""

    serializer_class = SubscriptionSerializer
    queryset = Subscription.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.subscription_list(tenant=self.tenant)

    @extend_schema(request=SubscriptionCreateSerializer,
                   responses={201: SubscriptionWithSecretSerializer})
    def post(self, request: Request) -> Response:
        data = SubscriptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sub, secret = services.subscription_create(
            tenant=self.tenant, actor=request.user, request=request, **data.validated_data)
        sub.secret = secret  # type: ignore[attr-defined]
        return Response(SubscriptionWithSecretSerializer(sub).data,
                        status=status.HTTP_201_CREATED, headers=NO_STORE)


class WebhookDetailView(_AdminOnly, APIView):
    @extend_schema(responses=SubscriptionSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        sub = selectors.subscription_get(tenant=self.tenant, subscription_id=pk)
        return Response(SubscriptionSerializer(sub).data)

    @extend_schema(request=SubscriptionUpdateSerializer, responses=SubscriptionSerializer)
    def patch(self, request: Request, pk: Any) -> Response:
        sub = selectors.subscription_get(tenant=self.tenant, subscription_id=pk)
        data = SubscriptionUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        sub = services.subscription_update(tenant=self.tenant, actor=request.user,
                                           subscription=sub, changes=data.validated_data,
                                           request=request)
        return Response(SubscriptionSerializer(sub).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: Any) -> Response:
        sub = selectors.subscription_get(tenant=self.tenant, subscription_id=pk)
        services.subscription_delete(tenant=self.tenant, actor=request.user, subscription=sub,
                                     request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(_AdminOnly, APIView):
    @extend_schema(request=None, responses=SecretSerializer)
    def post(self, request: Request, pk: Any) -> Response:
        sub = selectors.subscription_get(tenant=self.tenant, subscription_id=pk)
        secret = services.subscription_rotate_secret(tenant=self.tenant, actor=request.user,
                                                     subscription=sub, request=request)
        return Response({"secret": secret}, headers=NO_STORE)


class DeliveryListView(_AdminOnly, generics.ListAPIView):
    serializer_class = DeliverySerializer
    queryset = Delivery.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        params = self.request.query_params
        return selectors.delivery_list(tenant=self.tenant, filters={
            "subscription": params.get("subscription"), "status": params.get("status"),
            "event_type": params.get("event_type")})

    @extend_schema(parameters=[
        OpenApiParameter("subscription", str, description="a webhook id"),
        OpenApiParameter("status", str, enum=["pending", "retrying", "succeeded", "failed"]),
        OpenApiParameter("event_type", str)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DeliveryDetailView(_AdminOnly, APIView):
    @extend_schema(responses=DeliveryDetailSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        delivery = selectors.delivery_get(tenant=self.tenant, delivery_id=pk)
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryReplayView(_AdminOnly, APIView):
    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request: Request, pk: Any) -> Response:
        delivery = selectors.delivery_get(tenant=self.tenant, delivery_id=pk)
        replay = services.delivery_replay(tenant=self.tenant, actor=request.user,
                                          delivery=delivery, request=request)
        return Response(DeliverySerializer(replay).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/webhook-deliveries/{replay.pk}/"})
