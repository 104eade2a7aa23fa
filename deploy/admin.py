"""Operator views of networks and nodes. Read-only: every change goes through the services
(and their state machines, audit and tasks), never through admin forms. Sealed keys are
never displayed, not even encrypted."""

from __future__ import annotations

from django.contrib import admin

from deploy.models import Network, NetworkIdentity, NetworkPolicy, Node


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NodeInline(admin.TabularInline):
    model = Node
    fields = ("index", "moniker", "status", "health", "height", "restart_count", "rpc_url")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Network)
class NetworkAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "status", "validator_count", "driver", "created_at")
    list_filter = ("status", "driver")
    search_fields = ("name", "chain_id", "tenant__slug")
    exclude = ("genesis",)
    inlines = [NodeInline]


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ("moniker", "network", "status", "health", "height", "restart_count")
    list_filter = ("status", "health")
    search_fields = ("moniker", "network__name")
    exclude = ("home_config",)


@admin.register(NetworkIdentity)
class NetworkIdentityAdmin(ReadOnlyAdmin):
    list_display = ("network", "tenant", "organisation_id", "member_id", "public_key")
    exclude = ("sealed_private_key",)


@admin.register(NetworkPolicy)
class NetworkPolicyAdmin(admin.ModelAdmin):
    """Staff set whether a tenant's new networks wait for approval (overrides the plan)."""

    list_display = ("tenant", "requires_approval", "updated_at")
    raw_id_fields = ("tenant",)
