"""API shapes of networks, nodes and the operations their lifecycle calls return."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from baas.models import Operation
from baas.validators import validate_name
from deploy.drivers import AVAILABLE_DRIVERS
from deploy.models import Cluster, Network, Node


@extend_schema_serializer(component_name="OperationRef")
class OperationSerializer(serializers.ModelSerializer):
    """The operation a lifecycle call started, with its URL (the full shape is
    ``baas.api.serializers.OperationSerializer``, component ``Operation``)."""

    url = serializers.SerializerMethodField()

    class Meta:
        model = Operation
        fields = [
            "id", "kind", "state", "progress", "steps", "error_code", "error_message",
            "target_type", "target_id", "created_at", "started_at", "finished_at", "deadline",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, op: Operation) -> str:
        return f"/api/v1/operations/{op.pk}/"


class NetworkSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    # The owning organisation: differs from the caller's on a network joined as a member.
    owner = serializers.SlugRelatedField(source="tenant", slug_field="slug", read_only=True)
    nodes_url = serializers.SerializerMethodField()
    gateway_url = serializers.SerializerMethodField()

    class Meta:
        model = Network
        fields = [
            "id", "name", "owner", "chain_id", "engine_version", "ledger_version",
            "runtime_ref", "validator_count", "driver", "public_access",
            "desired_state", "status", "error", "created_at", "updated_at",
            "status_changed_at", "running_since", "nodes_url", "gateway_url", "cluster",
        ]
        read_only_fields = fields

    def get_error(self, network: Network) -> dict | None:
        if not network.error_code:
            return None
        return {"code": network.error_code, "message": network.error_message}

    def get_nodes_url(self, network: Network) -> str:
        return f"/api/v1/networks/{network.pk}/nodes/"

    def get_gateway_url(self, network: Network) -> str:
        return f"/api/v1/networks/{network.pk}/gateway/"


class NetworkCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63, validators=[validate_name])
    validators = serializers.IntegerField(default=4)
    # Checked by the service, which answers ``driver_unknown`` naming the valid choices.
    driver = serializers.CharField(max_length=32, default="local",
                                   help_text=f"one of: {', '.join(AVAILABLE_DRIVERS)}")
    public_access = serializers.BooleanField(
        default=False, help_text="let keys not registered on chain transact (template public "
                                 "pages); fixed at creation")
    # Checked by the service (``cluster_unknown``, ``cluster_driver_mismatch``), so a bad id
    # answers like another tenant's.
    cluster = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64, default=None,
        help_text="id of a registered cluster (yours or the platform's); driver kubernetes "
                  "only; none: the platform's own cluster")


class ClusterSerializer(serializers.ModelSerializer):
    """A registered cluster. Its kubeconfig is never part of any answer."""

    platform = serializers.SerializerMethodField()
    server = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Cluster
        fields = ["id", "name", "platform", "server", "status", "last_checked_at", "error",
                  "created_at", "updated_at"]
        read_only_fields = fields

    def get_platform(self, cluster: Cluster) -> bool:
        return cluster.tenant_id is None

    def get_server(self, cluster: Cluster) -> str | None:
        # Where the platform's own clusters are is the platform's business.
        return None if cluster.tenant_id is None else cluster.server

    def get_error(self, cluster: Cluster) -> dict | None:
        # Worded now, in the reader's language. A platform cluster's details (they can name
        # internal addresses) never go to tenants: this API is the tenants'.
        from deploy.services.clusters import cluster_error

        return cluster_error(cluster=cluster, staff=False)


class ClusterCreateSerializer(serializers.Serializer):
    """Documentation of the create body; the service checks it (stable codes)."""

    name = serializers.CharField(max_length=63, validators=[validate_name])
    kubeconfig = serializers.CharField(
        help_text="the kubeconfig file's text (YAML, at most 64 KiB): inline credentials "
                  "only (token or client-certificate-data/client-key-data, "
                  "certificate-authority-data); no exec or auth-provider plugins, no file "
                  "paths, no insecure-skip-tls-verify, an https server")
    context = serializers.CharField(required=False, allow_null=True,
                                    help_text="context to use (default: current-context)")


class NodeSerializer(serializers.ModelSerializer):
    endpoints = serializers.SerializerMethodField()

    class Meta:
        model = Node
        fields = [
            "id", "index", "moniker", "status", "health", "height", "restart_count",
            "validator_pub_key", "endpoints", "detail", "last_seen_at", "created_at",
        ]
        read_only_fields = fields

    def get_endpoints(self, node: Node) -> dict:
        # A node whose RPC is a Unix socket of the platform (the local driver) has no RPC
        # endpoint a tenant could use: the gateway is the way in, and the host path stays ours.
        private = not node.rpc_url.startswith(("http://", "https://"))
        return {"host": node.host, "p2p_port": node.p2p_port,
                "rpc_port": None if private and node.rpc_url else node.rpc_port,
                "rpc_url": None if private else node.rpc_url}


# --- gateway shapes (documentation: the views validate bodies themselves, see gateway_views) --


class GatewayTxRequestSerializer(serializers.Serializer):
    tx = serializers.CharField(required=False, help_text="base64 of a signed, encoded tx")
    chaincode = serializers.CharField(required=False)
    function = serializers.CharField(required=False)
    args = serializers.JSONField(required=False, help_text="a JSON list or object; no floats, "
                                 "integers within int64, at most 16 levels deep")
    wait = serializers.ChoiceField(choices=["commit", "sync"], required=False)


class GatewayTxResultSerializer(serializers.Serializer):
    hash = serializers.CharField()
    code = serializers.IntegerField()
    log = serializers.CharField(allow_blank=True)
    height = serializers.IntegerField(allow_null=True)
    data = serializers.JSONField(allow_null=True)


class GatewayQueryRequestSerializer(serializers.Serializer):
    chaincode = serializers.CharField(required=False)
    function = serializers.CharField(required=False)
    args = serializers.JSONField(required=False)
    path = serializers.CharField(required=False, help_text="a raw ABCI query path, e.g. /state")
    data = serializers.CharField(required=False, allow_blank=True)
    height = serializers.IntegerField(required=False, min_value=0)


class GatewayQueryResultSerializer(serializers.Serializer):
    result = serializers.JSONField(required=False)
    height = serializers.IntegerField(required=False)
    value = serializers.JSONField(required=False, allow_null=True)
    log = serializers.CharField(required=False, allow_blank=True)


class GatewayBlockSummarySerializer(serializers.Serializer):
    height = serializers.IntegerField()
    time = serializers.CharField(allow_null=True)
    hash = serializers.CharField(allow_null=True)
    app_hash = serializers.CharField(allow_null=True)
    num_txs = serializers.IntegerField()
    proposer = serializers.CharField(allow_null=True)


class GatewayBlocksSerializer(serializers.Serializer):
    latest_height = serializers.IntegerField()
    blocks = GatewayBlockSummarySerializer(many=True)


class LifecycleResponseSerializer(serializers.Serializer):
    network = NetworkSerializer()
    operation = OperationSerializer()
