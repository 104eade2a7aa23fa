"""Django admin for platform staff: read-only except through services (code review F6).

The audit log is read-only here: editing it would break its hash chain (and
``audit_verify`` would say so). Organisations, memberships, invitations and tokens are
read-only too; the changes staff may make (a tenant's plan and quotas, revoking a token) go
through the same services as the API and leave an audit record.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from tenants.choices import QUOTA_NAMES
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Tenant, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "email_verified_at", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser", "email_verified_at")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",),
                             "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ()
    list_filter = ["is_staff", "is_active"]


class ReadOnlyAdminMixin:
    """No add, change or delete in the admin: every state change goes through a service,
    which checks the rules and writes an audit record (architecture.md, safety rules)."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Roles and removals are the organisation's owners' business (portal or API)."""

    model = Membership
    extra = 0
    fields = readonly_fields = ["user", "role", "created_at"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Staff change the plan and the quotas, through ``tenant_set_quotas`` (audited as
    ``tenant.quotas_changed``); everything else is read-only."""

    list_display = ["slug", "name", "plan", "max_networks", "max_members", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]
    fields = ["slug", "name", "plan", *QUOTA_NAMES, "created_at"]
    readonly_fields = ["slug", "name", "created_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # organisations are created by sign-up

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        from tenants import services

        fresh = Tenant.objects.get(pk=obj.pk)
        plan = form.cleaned_data.get("plan")
        plan = plan if plan and plan != fresh.plan else None
        quotas = {name: form.cleaned_data[name] for name in QUOTA_NAMES
                  if name in form.changed_data and name in form.cleaned_data}
        if plan is None and not quotas:
            return
        services.tenant_set_quotas(tenant=fresh, actor=request.user, plan=plan, quotas=quotas)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["email", "tenant", "role", "expires_at", "accepted_at", "revoked_at"]
    exclude = ["nonce"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only (a token never moves to another tenant or gains a scope); the one change
    staff can make is revoking, through ``token_revoke`` (audited as ``token.revoked``)."""

    list_display = ["name", "prefix", "tenant", "scopes", "expires_at", "revoked_at",
                    "last_used_at"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        from tenants import services

        for token in queryset.select_related("tenant"):
            services.token_revoke(token=token, actor=request.user, membership=None)

    def has_revoke_permission(self, request):  # type: ignore[no-untyped-def]
        return bool(request.user.is_staff)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "tenant", "actor_email", "action", "target_type",
                    "target_id", "source_ip"]
    list_filter = ["action"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
