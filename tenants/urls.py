"""Portal URLs (included at ``/`` by ``baas/urls.py``), all under the ``portal`` namespace."""

from django.urls import path

from tenants import views

app_name = "portal"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("signup/", views.signup, name="signup"),
    # These four paths are what the backend's emails link to (tenants/services.py).
    path("verify-email/resend/", views.verify_email_resend, name="verify-email-resend"),
    path("verify-email/<str:uid>/<str:token>/", views.verify_email, name="verify-email"),
    path("reset-password/", views.password_reset, name="password-reset"),
    path("reset-password/<str:uid>/<str:token>/", views.password_reset_confirm,
         name="password-reset-confirm"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("switch-organisation/", views.tenant_switch, name="tenant-switch"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke,
         name="invitation-revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("audit/", views.audit, name="audit"),
    path("operations/", views.operations, name="operations"),
    path("operations/<int:operation_id>/", views.operation_detail, name="operation-detail"),
]
