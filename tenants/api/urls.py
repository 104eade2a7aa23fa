"""``/api/v1/`` routes of the tenants app."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter()
router.register("members", views.MembershipViewSet, basename="member")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("staff/tenants", views.StaffTenantViewSet, basename="staff-tenant")
router.register("staff/audit-events", views.StaffAuditEventViewSet, basename="staff-audit-event")

current_tenant = views.CurrentTenantView.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    path("auth/signup/", views.SignupView.as_view(), name="api-signup"),
    path("auth/login/", views.LoginView.as_view(), name="api-login"),
    path("auth/logout/", views.LogoutView.as_view(), name="api-logout"),
    path("auth/verify-email/", views.VerifyEmailView.as_view(), name="api-verify-email"),
    path("auth/verify-email/resend/", views.VerifyEmailResendView.as_view(),
         name="api-verify-email-resend"),
    path("auth/password-reset/", views.PasswordResetView.as_view(), name="api-password-reset"),
    path("auth/password-reset/confirm/", views.PasswordResetConfirmView.as_view(),
         name="api-password-reset-confirm"),
    path("invitations/accept/", views.InvitationAcceptView.as_view(), name="api-invitation-accept"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("tenant/", current_tenant, name="api-tenant"),
    *router.urls,
]
