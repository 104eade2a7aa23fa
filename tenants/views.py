"""Portal views: thin. Each POST validates a form and calls ONE service; reads use selectors.

The portal keeps the *current organisation* in the session (its slug). Users in several
organisations switch with the header's switcher; everything shown is scoped to that tenant.
An ``AppError`` from a service is shown in words next to the form (see ``show_app_error``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required as _login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from baas.errors import AppError
from baas.messages import describe_audit_events, describe_operation, describe_operations
from tenants import forms
from tenants.forms import app_error_text, show_app_error

SESSION_TENANT = "portal_tenant"
AUDIT_PAGE_SIZE = 100
# The backend's export endpoint; the portal passes its filters and the tenant slug along.
AUDIT_EXPORT_URL = "/api/v1/audit-events/export/"
login_required = _login_required(login_url="portal:login")


# --- current organisation ------------------------------------------------------------------

class PortalContext:
    """The signed-in user's memberships and the one the portal currently shows."""

    def __init__(self, request: HttpRequest) -> None:
        from tenants.models import Membership

        self.memberships: list[Any] = []
        self.membership: Any | None = None
        if not request.user.is_authenticated:
            return
        self.memberships = list(
            Membership.objects.select_related("tenant")
            .filter(user=request.user)
            .order_by("tenant__name")
        )
        wanted = request.session.get(SESSION_TENANT)
        for m in self.memberships:
            if m.tenant.slug == wanted:
                self.membership = m
        if self.membership is None and self.memberships:
            self.membership = self.memberships[0]
            request.session[SESSION_TENANT] = self.membership.tenant.slug

    @property
    def tenant(self) -> Any | None:
        return self.membership.tenant if self.membership else None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    def can(self, minimum: str) -> bool:
        from tenants.choices import ROLE_RANK

        return ROLE_RANK.get(self.role or "", 0) >= ROLE_RANK.get(minimum, 99)


def page(request: HttpRequest, template: str, context: dict | None = None,
         status: int = 200) -> HttpResponse:
    """Render with the header's organisation switcher filled in."""
    portal = getattr(request, "portal", None) or PortalContext(request)
    ctx = {
        "portal": portal,
        "portal_tenant": portal.tenant,
        "portal_memberships": portal.memberships,
        "role_labels": dict(forms.ROLE_CHOICES),
        "portal_role_label": dict(forms.ROLE_CHOICES).get(portal.role or "", ""),
    }
    ctx.update(context or {})
    return render(request, template, ctx, status=status)


def tenant_required(view):  # type: ignore[no-untyped-def]
    """Logged in and a member of some organisation; sets ``request.portal``."""

    @_login_required(login_url="portal:login")
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.portal = PortalContext(request)  # type: ignore[attr-defined]
        if request.portal.tenant is None:  # type: ignore[attr-defined]
            return page(request, "tenants/no_tenant.html")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def posted(request: HttpRequest) -> Any:
    """Form data for a POST (even an empty one, so it is validated), else None (unbound)."""
    return request.POST if request.method == "POST" else None


class _AuthScope:
    throttle_scope = "auth"


def throttled(request: HttpRequest) -> bool:
    """The API's ``auth`` rate (``BAAS_AUTH_THROTTLE_RATE``) also guards the portal's
    unauthenticated forms; both count in the same cache entry per client address."""
    from tenants.throttling import ClientAddressThrottle

    if request.method != "POST":
        return False
    return not ClientAddressThrottle().allow_request(request, _AuthScope())


def refuse_throttled(request: HttpRequest, template: str, form: Any,
                     extra: dict | None = None) -> HttpResponse:
    form.add_error(None, forms.ERROR_TEXT["throttled"])
    return page(request, template, {"form": form, **(extra or {})}, status=429)


@require_POST
@login_required
def tenant_switch(request: HttpRequest) -> HttpResponse:
    portal = PortalContext(request)
    slug = request.POST.get("tenant", "")
    if any(m.tenant.slug == slug for m in portal.memberships):
        request.session[SESSION_TENANT] = slug
    else:
        messages.error(request, _("You are not a member of that organisation."))
    return redirect("portal:dashboard")


# --- public pages ---------------------------------------------------------------------------

def landing(request: HttpRequest) -> HttpResponse:
    return page(request, "tenants/landing.html")


def signup(request: HttpRequest) -> HttpResponse:
    from tenants import services

    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    form = forms.SignupForm(posted(request))
    if throttled(request):
        return refuse_throttled(request, "tenants/signup.html", form)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user, tenant = services.signup(
                email=data["email"],
                password=data["password"],
                full_name=data["full_name"],
                organisation_name=data["organisation"],
                organisation_slug=data["slug"],
            )
        except AppError as exc:
            show_app_error(form, exc)
        else:
            sign_in(request, user, tenant.slug)
            messages.success(
                request,
                _("Welcome! We sent a verification link to %(email)s.") % {"email": user.email},
            )
            return redirect("portal:dashboard")
    return page(request, "tenants/signup.html", {"form": form}, status=400 if form.errors else 200)


def sign_in(request: HttpRequest, user: Any, tenant_slug: str | None = None) -> None:
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if tenant_slug:
        request.session[SESSION_TENANT] = tenant_slug


def verify_email(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    """GET shows a confirm button (mail scanners prefetch links); POST verifies once."""
    from tenants import services

    if request.method != "POST":
        return page(request, "tenants/verify_email.html")
    try:
        services.email_verify(uid=uid, token=token)
    except AppError as exc:
        return page(request, "tenants/verify_email.html", {"error": app_error_text(exc)},
                    status=exc.status)
    messages.success(request, _("Your email address is verified."))
    return redirect("portal:dashboard" if request.user.is_authenticated else "portal:login")


@require_POST
@login_required
def verify_email_resend(request: HttpRequest) -> HttpResponse:
    from tenants import services

    if request.user.email_verified:  # type: ignore[union-attr]
        messages.info(request, _("Your email address is already verified."))
    else:
        services.email_verification_send(user=request.user)
        messages.success(request, _("We sent a new verification link to %(email)s.")
                         % {"email": request.user.email})  # type: ignore[union-attr]
    return redirect("portal:dashboard")


def login_view(request: HttpRequest) -> HttpResponse:
    from tenants import services

    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    if request.user.is_authenticated:
        return redirect(next_url or "portal:dashboard")
    form = forms.LoginForm(posted(request))
    if throttled(request):
        return refuse_throttled(request, "tenants/registration/login.html", form,
                                {"next": next_url})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.login_check(email=form.cleaned_data["email"],
                                        password=form.cleaned_data["password"], request=request)
        except AppError as exc:
            form.add_error(None, app_error_text(exc))
        else:
            sign_in(request, user)
            return redirect(next_url or "portal:dashboard")
    return page(request, "tenants/registration/login.html", {"form": form, "next": next_url},
                status=400 if form.errors else 200)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.info(request, _("You are logged out."))
    return redirect("portal:landing")


def password_reset(request: HttpRequest) -> HttpResponse:
    from tenants import services

    form = forms.PasswordResetRequestForm(posted(request))
    if throttled(request):
        return refuse_throttled(request, "tenants/registration/password_reset_form.html", form)
    if request.method == "POST" and form.is_valid():
        services.password_reset_request(email=form.cleaned_data["email"])
        # The same answer whether or not the account exists.
        return page(request, "tenants/registration/password_reset_done.html")
    return page(request, "tenants/registration/password_reset_form.html", {"form": form},
                status=400 if form.errors else 200)


def password_reset_confirm(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    from tenants import services
    from tenants import tokens as signed
    from tenants.models import User

    user_id = signed.decode_uid(uid)
    user = User.objects.filter(pk=user_id).first() if user_id else None
    valid = user is not None and signed.password_reset_tokens.check_token(user, token)
    form = forms.PasswordResetConfirmForm(posted(request))
    if valid and request.method == "POST" and form.is_valid():
        try:
            services.password_reset_confirm(uid=uid, token=token,
                                            new_password=form.cleaned_data["password"])
        except AppError as exc:
            show_app_error(form, exc)
        else:
            return page(request, "tenants/registration/password_reset_complete.html")
    return page(request, "tenants/registration/password_reset_confirm.html",
                {"form": form, "validlink": valid},
                status=400 if (form.errors or not valid) else 200)


# --- dashboard ------------------------------------------------------------------------------

QUOTA_LABELS = {
    "max_networks": gettext_lazy("Networks"),
    "max_validators_per_network": gettext_lazy("Validators per network"),
    "max_members": gettext_lazy("Members"),
    "max_tokens": gettext_lazy("API tokens"),
}


def quota_rows(tenant: Any) -> list[dict]:
    from baas.quotas import quota_usage

    rows = []
    for name, value in quota_usage(tenant=tenant).items():
        used, limit = value.get("used"), int(value.get("limit") or 0)
        rows.append({
            "name": name,
            "label": QUOTA_LABELS.get(name, name),
            "used": used,  # None: a per-network limit, not a tenant-wide count
            "limit": limit,
            "full": used is not None and limit > 0 and used >= limit,
        })
    return rows


@tenant_required
def dashboard(request: HttpRequest) -> HttpResponse:
    from baas.models import Operation
    from tenants import selectors

    portal = request.portal  # type: ignore[attr-defined]
    tenant = portal.tenant
    return page(request, "tenants/dashboard.html", {
        "tenant": tenant,
        "plan_label": dict(forms.PLAN_CHOICES).get(tenant.plan, tenant.plan),
        "quotas": quota_rows(tenant),
        "operations": describe_operations(
            Operation.objects.for_tenant(tenant).select_related("actor")[:5]),
        # The audit log is for admins and owners, so the dashboard shows it only to them.
        "audit": describe_audit_events(selectors.audit_event_list(tenant=tenant)[:5])
        if portal.can("admin") else None,
    })


# --- members and invitations ----------------------------------------------------------------

@tenant_required
def members(request: HttpRequest) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    form = forms.InviteForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            _invitation, op = services.invitation_create(
                tenant=portal.tenant, actor=request.user, membership=portal.membership,
                email=form.cleaned_data["email"], role=form.cleaned_data["role"],
            )
        except AppError as exc:
            show_app_error(form, exc)
        else:
            messages.success(request, format_html(
                _("Invitation for {email} is being sent. <a href=\"{url}\">Follow it live</a>."),
                email=form.cleaned_data["email"],
                url=reverse("portal:operation-detail", args=[op.pk]),
            ))
            return redirect("portal:members")
    return page(request, "tenants/members.html", {
        "form": form,
        "members": selectors.membership_list(tenant=portal.tenant),
        "invitations": selectors.invitation_list(tenant=portal.tenant, status="pending"),
        "can_manage": portal.can("admin"),
    }, status=400 if form.errors else 200)


def _one_service_call(request: HttpRequest, call: Callable[[], Any], ok_message: str,
                      back: str) -> HttpResponse:
    """Run one service; its ``AppError`` becomes an error message in words."""
    try:
        call()
    except AppError as exc:
        messages.error(request, app_error_text(exc))
    else:
        messages.success(request, ok_message)
    return redirect(back)


def _tenant_object(queryset: Any, pk: int) -> Any:
    """An object of the current tenant or 404 (another tenant's id looks the same)."""
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


@require_POST
@tenant_required
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    target = _tenant_object(selectors.membership_list(tenant=portal.tenant), membership_id)
    form = forms.RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return redirect("portal:members")
    return _one_service_call(
        request,
        lambda: services.membership_set_role(
            target=target, actor=request.user, membership=portal.membership,
            role=form.cleaned_data["role"],
        ),
        _("Role of %(email)s changed.") % {"email": target.user.email}, "portal:members",
    )


@require_POST
@tenant_required
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    target = _tenant_object(selectors.membership_list(tenant=portal.tenant), membership_id)
    return _one_service_call(
        request,
        lambda: services.membership_remove(
            target=target, actor=request.user, membership=portal.membership,
        ),
        _("%(email)s was removed from the organisation.") % {"email": target.user.email},
        "portal:members",
    )


@require_POST
@tenant_required
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    invitation = _tenant_object(selectors.invitation_list(tenant=portal.tenant), invitation_id)
    return _one_service_call(
        request,
        lambda: services.invitation_revoke(
            invitation=invitation, actor=request.user, membership=portal.membership,
        ),
        _("Invitation withdrawn."), "portal:members",
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation email.

    Signed in as the invited address: one button joins. Not signed in: the invited address
    either has an account (its password accepts) or gets one (name + password).
    """
    from tenants import services

    try:
        invitation = services.invitation_from_token(token)  # a read: validates the link
    except AppError as exc:
        return page(request, "tenants/invitation_accept.html",
                    {"error": app_error_text(exc)}, status=exc.status)

    ctx: dict[str, Any] = {"invitation": invitation}
    user = request.user
    if user.is_authenticated:
        ctx["mismatch"] = user.email.lower() != invitation.email.lower()
        form = None
    else:
        try:
            services.user_get_by_email(invitation.email)
            ctx["has_account"] = True
            form_class: type = forms.AcceptExistingForm
        except AppError:
            form_class = forms.AcceptSignupForm
        data = request.POST.copy() if request.method == "POST" else None
        if data is not None:
            data["email"] = invitation.email
        form = form_class(data, initial={"email": invitation.email})
        ctx["form"] = form

    if form is not None and throttled(request):  # anonymous: a password is being tried
        return refuse_throttled(request, "tenants/invitation_accept.html", form, ctx)
    if request.method == "POST" and (form is None or form.is_valid()):
        fields = form.cleaned_data if form is not None else {}
        try:
            membership = services.invitation_accept(
                token=token, user=user if user.is_authenticated else None,
                password=fields.get("password", ""), full_name=fields.get("full_name", ""),
            )
        except AppError as exc:
            if form is None:
                ctx["error_inline"] = app_error_text(exc)
            else:
                show_app_error(form, exc)
        else:
            sign_in(request, membership.user, membership.tenant.slug)
            messages.success(request, _("You joined %(name)s.") % {"name": membership.tenant.name})
            return redirect("portal:dashboard")
    failed = bool(ctx.get("error_inline") or (form is not None and form.errors))
    return page(request, "tenants/invitation_accept.html", ctx, status=400 if failed else 200)


# --- API tokens -----------------------------------------------------------------------------

@tenant_required
def tokens(request: HttpRequest) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    form = forms.TokenCreateForm(posted(request))
    created_plaintext = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        try:
            _token, created_plaintext = services.token_create(
                tenant=portal.tenant, actor=request.user, membership=portal.membership,
                name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
            )
        except AppError as exc:
            show_app_error(form, exc)
        else:
            form = forms.TokenCreateForm()
    # The plaintext is rendered in this one response only; it is never stored or shown again.
    response = page(request, "tenants/tokens.html", {
        "form": form,
        "tokens": selectors.token_list(tenant=portal.tenant),
        "created_plaintext": created_plaintext,
        "can_create": portal.can("developer"),
        "can_revoke_any": portal.can("admin"),
    }, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@tenant_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    token = _tenant_object(selectors.token_list(tenant=portal.tenant), token_id)
    return _one_service_call(
        request,
        lambda: services.token_revoke(token=token, actor=request.user,
                                      membership=portal.membership),
        _("Token revoked. Programs using it can no longer call the API."), "portal:tokens",
    )


# --- audit ----------------------------------------------------------------------------------

def audit_filters(form: forms.AuditFilterForm) -> dict[str, Any]:
    """Form dates -> the selector's datetimes; ``until`` includes the whole day."""
    if not form.is_valid():
        return {}
    data = form.cleaned_data
    tz = timezone.get_current_timezone()
    filters: dict[str, Any] = {"action": data.get("action"), "actor": data.get("actor")}
    if data.get("since"):
        filters["since"] = datetime.combine(data["since"], time.min, tzinfo=tz)
    if data.get("until"):
        filters["until"] = datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=tz)
    return {k: v for k, v in filters.items() if v}


@tenant_required
def audit(request: HttpRequest) -> HttpResponse:
    from baas.audit import audit_verify
    from tenants import selectors

    portal = request.portal  # type: ignore[attr-defined]
    if not portal.can("admin"):
        raise Http404
    form = forms.AuditFilterForm(request.GET or None)
    filters = audit_filters(form)
    records = selectors.audit_event_list(tenant=portal.tenant, filters=filters)
    chain_ok, chain_bad_id = audit_verify(tenant=portal.tenant)
    # The export endpoint takes the same filters (datetimes as ISO 8601) and the tenant slug.
    query = QueryDict(mutable=True)
    for key, value in filters.items():
        query[key] = value.isoformat() if isinstance(value, datetime) else value
    query["tenant"] = portal.tenant.slug
    query["as"] = "json"
    return page(request, "tenants/audit.html", {
        "form": form,
        "records": describe_audit_events(records.select_related("actor")[:AUDIT_PAGE_SIZE]),
        "chain_ok": chain_ok,
        "chain_bad_id": chain_bad_id,
        "export_url": f"{AUDIT_EXPORT_URL}?{query.urlencode()}",
    })


# --- operations -----------------------------------------------------------------------------

STATE_LABELS = {
    "queued": gettext_lazy("Queued"),
    "running": gettext_lazy("Running"),
    "succeeded": gettext_lazy("Succeeded"),
    "failed": gettext_lazy("Failed"),
    "cancelled": gettext_lazy("Cancelled"),
}


@tenant_required
def operations(request: HttpRequest) -> HttpResponse:
    from baas.choices import ACTIVE
    from baas.models import Operation

    tenant = request.portal.tenant  # type: ignore[attr-defined]
    ops = describe_operations(Operation.objects.for_tenant(tenant).select_related("actor")[:100])
    ctx = {"operations": ops, "any_active": any(op.state in ACTIVE for op in ops)}
    if getattr(request, "htmx", False):
        # htmx polls this while something is still running: send just the table.
        return page(request, "tenants/_op_table.html", ctx)
    return page(request, "tenants/operations.html", ctx)


@tenant_required
def operation_detail(request: HttpRequest, operation_id: int) -> HttpResponse:
    from baas.choices import TERMINAL
    from baas.models import Operation

    tenant = request.portal.tenant  # type: ignore[attr-defined]
    op = Operation.objects.for_tenant(tenant).filter(pk=operation_id).first()
    if op is None:
        raise Http404
    return page(request, "tenants/operation_detail.html", {
        "op": describe_operation(op),
        "state_labels": {k: str(v) for k, v in STATE_LABELS.items()},
        "live_texts": {
            "ended": _("This operation has ended."),
            "reconnecting": _("Connection lost; reconnecting…"),
            "lost": _("Live updates stopped. Reload the page to see the latest state."),
        },
        "finished": op.state in TERMINAL,
        "events_url": f"/api/v1/operations/{op.pk}/events/?tenant={tenant.slug}",
    })
