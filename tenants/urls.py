from django.contrib.auth import views as auth_views
from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.SignupView.as_view(), name="signup"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="tenants/password_reset_sent.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="tenants/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("account/two-factor/", views.TwoFactorView.as_view(), name="two_factor"),
    path("workspaces/new/", views.TenantCreateView.as_view(), name="tenant_new"),
    path("workspaces/switch/", views.TenantSwitchView.as_view(), name="tenant_switch"),
    path("keys/", views.ApiKeyListView.as_view(), name="api_keys"),
    path("keys/origins/", views.AllowedOriginsView.as_view(), name="allowed_origins"),
    path("keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api_key_revoke"),
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/leave/", views.TeamLeaveView.as_view(), name="team_leave"),
    path("team/members/<int:pk>/role/", views.MemberRoleView.as_view(), name="member_role"),
    path("team/members/<int:pk>/remove/", views.MemberRemoveView.as_view(), name="member_remove"),
    path("team/invitations/<int:pk>/resend/", views.InvitationResendView.as_view(), name="invitation_resend"),
    path("team/invitations/<int:pk>/cancel/", views.InvitationCancelView.as_view(), name="invitation_cancel"),
    path("invitations/<str:token>/", views.InvitationView.as_view(), name="invitation"),
]
