"""Portal views: thin. Each POST validates a form and calls ONE service; reads use selectors.

The portal keeps the *current organisation* in the session (its slug). Users in several
organisations switch with the header's switcher; everything shown is scoped to that tenant.
An ``AppError`` from a service is shown in words next to the form (see ``show_app_error``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required as _login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from baas.errors import AppError
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


def client_ip(request: HttpRequest) -> str | None:
    return getattr(request, "source_ip", None) or request.META.get("REMOTE_ADDR")


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
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user, tenant = services.signup(
                email=data["email"],
                password=data["password"],
                full_name=data["full_name"],
                tenant_name=data["organisation"],
                tenant_slug=data["slug"],
            )
        except AppError as exc:
            show_app_error(form, exc)
        else:
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_TENANT] = tenant.slug
            messages.success(
                request,
                _("Welcome! We sent a verification link to %(email)s.") % {"email": user.email},
            )
            return redirect("portal:dashboard")
    return page(request, "tenants/signup.html", {"form": form}, status=400 if form.errors else 200)


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirm button (mail scanners follow links); POST verifies once."""
    from tenants import services

    if request.method != "POST":
        return page(request, "tenants/verify_email.html", {"token": token})
    try:
        services.email_verify(token=token)
    except AppError as exc:
        return page(request, "tenants/verify_email.html",
                    {"error": app_error_text(exc), "token": None}, status=exc.status)
    messages.success(request, _("Your email address is verified."))
    return redirect("portal:dashboard" if request.user.is_authenticated else "portal:login")


class LoginView(auth_views.LoginView):
    template_name = "tenants/registration/login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("portal:dashboard")

    def get_context_data(self, **kwargs: Any) -> dict:
        ctx = super().get_context_data(**kwargs)
        portal = PortalContext(self.request)
        ctx.update(portal=portal, portal_tenant=portal.tenant,
                   portal_memberships=portal.memberships)
        return ctx


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:landing")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "tenants/registration/password_reset_form.html"
    email_template_name = "tenants/registration/password_reset_email.txt"
    subject_template_name = "tenants/registration/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password-reset-done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "tenants/registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "tenants/registration/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password-reset-complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "tenants/registration/password_reset_complete.html"


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
        "operations": Operation.objects.for_tenant(tenant).select_related("actor")[:5],
        # The audit log is for admins and owners, so the dashboard shows it only to them.
        "audit": selectors.audit_event_list(tenant=tenant)[:5] if portal.can("admin") else None,
    })


# --- members and invitations ----------------------------------------------------------------

@tenant_required
def members(request: HttpRequest) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    form = forms.InviteForm(request.POST or None)
    if request.method == "POST":
        if not portal.can("admin"):
            raise Http404
        if form.is_valid():
            try:
                services.invitation_create(
                    tenant=portal.tenant, actor=request.user,
                    email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                )
            except AppError as exc:
                show_app_error(form, exc)
            else:
                messages.success(request, _("Invitation sent to %(email)s.")
                                 % {"email": form.cleaned_data["email"]})
                return redirect("portal:members")
    return page(request, "tenants/members.html", {
        "form": form,
        "members": selectors.membership_list(tenant=portal.tenant),
        "invitations": selectors.invitation_list(tenant=portal.tenant, status="pending"),
        "role_form": forms.RoleForm(),
        "can_manage": portal.can("admin"),
    }, status=400 if form.errors else 200)


def _one_service_call(request: HttpRequest, call, ok_message: str,  # type: ignore[no-untyped-def]
                      back: str) -> HttpResponse:
    try:
        call()
    except AppError as exc:
        messages.error(request, app_error_text(exc))
    else:
        messages.success(request, ok_message)
    return redirect(back)


@require_POST
@tenant_required
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    from tenants import services

    form = forms.RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return redirect("portal:members")
    return _one_service_call(
        request,
        lambda: services.membership_role_change(
            tenant=request.portal.tenant, actor=request.user,  # type: ignore[attr-defined]
            membership_id=membership_id, role=form.cleaned_data["role"],
        ),
        _("Role changed."), "portal:members",
    )


@require_POST
@tenant_required
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    from tenants import services

    return _one_service_call(
        request,
        lambda: services.membership_remove(
            tenant=request.portal.tenant, actor=request.user,  # type: ignore[attr-defined]
            membership_id=membership_id,
        ),
        _("Member removed."), "portal:members",
    )


@require_POST
@tenant_required
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    from tenants import services

    return _one_service_call(
        request,
        lambda: services.invitation_revoke(
            tenant=request.portal.tenant, actor=request.user,  # type: ignore[attr-defined]
            invitation_id=invitation_id,
        ),
        _("Invitation revoked."), "portal:members",
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation email.

    Signed in: one button joins the organisation. Not signed in and the email has no
    account: a short sign-up form (name + password). Has an account: log in first.
    """
    from tenants import selectors, services

    try:
        invitation = selectors.invitation_get_by_token(token=token)
    except AppError as exc:
        return page(request, "tenants/invitation_accept.html",
                    {"error": app_error_text(exc)}, status=exc.status)

    ctx: dict[str, Any] = {"invitation": invitation, "token": token}
    user = request.user
    if user.is_authenticated:
        if request.method == "POST":
            try:
                membership = services.invitation_accept(token=token, user=user)
            except AppError as exc:
                ctx["error"] = app_error_text(exc)
                return page(request, "tenants/invitation_accept.html", ctx, status=exc.status)
            request.session[SESSION_TENANT] = membership.tenant.slug
            messages.success(request, _("You joined %(name)s.") % {"name": membership.tenant.name})
            return redirect("portal:dashboard")
        ctx["mismatch"] = user.email.lower() != invitation.email.lower()
        return page(request, "tenants/invitation_accept.html", ctx)

    if selectors.user_exists(email=invitation.email):
        ctx["login_url"] = f"{reverse('portal:login')}?next={request.path}"
        return page(request, "tenants/invitation_accept.html", ctx)

    form = forms.AcceptSignupForm(request.POST or None, initial={"email": invitation.email})
    form.data = form.data.copy() if form.is_bound else form.data
    if form.is_bound:
        form.data["email"] = invitation.email
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.invitation_accept_signup(
                token=token, full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password"],
            )
        except AppError as exc:
            show_app_error(form, exc)
        else:
            auth_login(request, membership.user,
                       backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_TENANT] = membership.tenant.slug
            messages.success(request, _("You joined %(name)s.") % {"name": membership.tenant.name})
            return redirect("portal:dashboard")
    ctx["form"] = form
    return page(request, "tenants/invitation_accept.html", ctx,
                status=400 if form.errors else 200)


# --- API tokens -----------------------------------------------------------------------------

@tenant_required
def tokens(request: HttpRequest) -> HttpResponse:
    from tenants import selectors, services

    portal = request.portal  # type: ignore[attr-defined]
    form = forms.TokenCreateForm(request.POST or None)
    created_plaintext = None
    if request.method == "POST":
        if not portal.can("developer"):
            raise Http404
        if form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            try:
                _token, created_plaintext = services.api_token_create(
                    tenant=portal.tenant, actor=request.user,
                    name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                )
            except AppError as exc:
                show_app_error(form, exc)
            else:
                form = forms.TokenCreateForm()
    # The plaintext is rendered in this one response and never stored or shown again.
    response = page(request, "tenants/tokens.html", {
        "form": form,
        "tokens": selectors.token_list(tenant=portal.tenant),
        "created_plaintext": created_plaintext,
        "can_create": portal.can("developer"),
        "now": timezone.now(),
    }, status=400 if form.errors else 200)
    if created_plaintext:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@tenant_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    from tenants import services

    return _one_service_call(
        request,
        lambda: services.api_token_revoke(
            tenant=request.portal.tenant, actor=request.user,  # type: ignore[attr-defined]
            token_id=token_id,
        ),
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
    records = selectors.audit_event_list(tenant=portal.tenant, filters=audit_filters(form))
    chain_ok, chain_bad_id = audit_verify(tenant=portal.tenant)
    query = request.GET.copy()
    query["tenant"] = portal.tenant.slug
    return page(request, "tenants/audit.html", {
        "form": form,
        "records": records.select_related("actor")[:AUDIT_PAGE_SIZE],
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
    from baas.models import Operation

    tenant = request.portal.tenant  # type: ignore[attr-defined]
    return page(request, "tenants/operations.html", {
        "operations": Operation.objects.for_tenant(tenant).select_related("actor")[:100],
    })


@tenant_required
def operation_detail(request: HttpRequest, operation_id: int) -> HttpResponse:
    from baas.choices import TERMINAL
    from baas.models import Operation

    tenant = request.portal.tenant  # type: ignore[attr-defined]
    op = Operation.objects.for_tenant(tenant).filter(pk=operation_id).first()
    if op is None:
        raise Http404
    return page(request, "tenants/operation_detail.html", {
        "op": op,
        "state_labels": {k: str(v) for k, v in STATE_LABELS.items()},
        "live_texts": {
            "ended": _("This operation has ended."),
            "reconnecting": _("Connection lost; reconnecting…"),
            "lost": _("Live updates stopped. Reload the page to see the latest state."),
        },
        "finished": op.state in TERMINAL,
        "events_url": f"/api/v1/operations/{op.pk}/events/?tenant={tenant.slug}",
    })
