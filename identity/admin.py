"""Operator views of DIDs and DID registries. Read-only: every change goes through the
services (signed operations on chain, audit), never through admin forms. Sealed keys are
never displayed, not even encrypted."""

from __future__ import annotations

from django.contrib import admin

from identity.models import Did, DidRegistry


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DidRegistry)
class DidRegistryAdmin(ReadOnlyAdmin):
    list_display = ("namespace", "network", "public", "created_at")
    list_filter = ("public",)
    search_fields = ("namespace", "network__name")


@admin.register(Did)
class DidAdmin(ReadOnlyAdmin):
    list_display = ("did", "tenant", "user", "custody", "status", "version", "created_at")
    list_filter = ("status", "custody")
    search_fields = ("did", "tenant__slug", "user__email")
    exclude = ("sealed_private_key",)
