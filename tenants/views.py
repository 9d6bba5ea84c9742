import time
from base64 import b32encode
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, TemplateView
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_ratelimit.decorators import ratelimit

from audit.actors import actor_of
from tenants import services
from tenants.access import (
    SESSION_TENANT_KEY,
    Access,
    session_access,
    session_tenant_choose,
    session_tenant_forget,
)
from tenants.forms import (
    ROLE_HELP,
    ApiKeyForm,
    ChangePasswordForm,
    InvitationSignupForm,
    InviteForm,
    LoginForm,
    NewPasswordForm,
    OriginsForm,
    PasswordConfirmForm,
    RoleForm,
    SignupForm,
    TenantForm,
    TokenForm,
)
from tenants.mixins import TenantScopedViewMixin
from tenants.models import ApiKey, Invitation, Membership, Role, Scope, User
from tenants.selectors import (
    invitation_by_token,
    invitations_open,
    memberships_of,
    team_members,
    two_factor_pending,
    two_factor_status,
)

auth_rate_limited = ratelimit(
    key="ip", rate=lambda group, request: settings.AUTH_RATE_LIMIT, method="POST", block=True
)
_auth_rate_limit = method_decorator(auth_rate_limited, name="dispatch")

# How long a client refused by the login/signup rate limit should wait, in seconds.
AUTH_RETRY_AFTER_SECONDS = 60


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The answer to a blocked login or signup attempt (settings.RATELIMIT_VIEW)."""
    # The address limit and the lockout (axes) can both be in play: the page must not say
    # the account is fine while that email is locked out.
    context = {"lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES}
    response = render(request, "429.html", context, status=429)
    response["Retry-After"] = str(AUTH_RETRY_AFTER_SECONDS)
    return response


@_auth_rate_limit
class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "tenants/login.html"
    redirect_authenticated_user = True


@_auth_rate_limit
class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link. The answer is the same whether or not the address has an account."""

    template_name = "tenants/password_reset.html"
    email_template_name = "emails/password_reset.txt"
    html_email_template_name = "emails/password_reset.html"
    subject_template_name = "emails/password_reset_subject.txt"


@_auth_rate_limit
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Choose a new password from the emailed link; other sessions of the account end with it."""

    template_name = "tenants/password_reset_confirm.html"
    form_class = NewPasswordForm
    post_reset_login = False


@_auth_rate_limit  # the current password is checked here too
class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's password. This session stays logged in; every other one ends."""

    form_class = ChangePasswordForm
    template_name = "tenants/password_change.html"
    success_url = reverse_lazy("password_change")

    def form_valid(self, form: ChangePasswordForm) -> HttpResponse:
        response = super().form_valid(form)  # saves, and keeps this session (update_session_auth_hash)
        messages.success(
            self.request,
            "Your password is changed. Everywhere else you were logged in, you are now logged out.",
        )
        return response


@_auth_rate_limit
class SignupView(FormView):
    form_class = SignupForm
    template_name = "tenants/signup.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            messages.info(request, "You already have an account. Create another workspace here.")
            return redirect("tenant_new")
        return super().get(request, *args, **kwargs)

    def form_valid(self, form: SignupForm) -> HttpResponse:
        try:
            user, tenant = services.signup(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
                tenant_name=form.cleaned_data["tenant_name"],
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        session_tenant_choose(self.request, tenant.pk)
        messages.success(self.request, f"Welcome to Pricelab. {tenant.name} is ready.")
        return redirect("dashboard")


class DashboardView(TenantScopedViewMixin, TemplateView):
    """Usage against the plan, running experiments and their leaders, live prices, recent changes."""

    template_name = "tenants/dashboard.html"
    scoped_model = ApiKey
    # Teammates listed beside the board; the Team page has everyone.
    members_shown = 6

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and session_access(request) is None:
            if SESSION_TENANT_KEY in request.session:
                session_tenant_forget(request)
                messages.warning(request, "You are no longer a member of that workspace.")
                return redirect("dashboard")
            messages.info(request, "You are not in any workspace yet. Create one to begin.")
            return redirect("tenant_new")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Imported here: the dashboard reads billing, pricing and experiments, which build on tenants.
        from tenants.dashboard import RECENT_CHANGES_SHOWN, SOURCE_LABELS, dashboard_for

        tenant = self.access.tenant
        members = Membership.objects.for_tenant(tenant).select_related("user").order_by("created_at")
        return super().get_context_data(
            board=dashboard_for(tenant=tenant),
            recent_max=RECENT_CHANGES_SHOWN,
            source_labels=SOURCE_LABELS,
            members=members[: self.members_shown],
            api_base=self.request.build_absolute_uri("/api/v1/"),
            can_write=Scope.WRITE in self.access.scopes,
            can_admin=Scope.ADMIN in self.access.scopes,
            **kwargs,
        )


class TenantSwitchView(LoginRequiredMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        """Work in another of the user's tenants."""
        try:
            tenant_id = int(request.POST.get("tenant_id", ""))
        except ValueError:
            raise Http404 from None
        if not 0 < tenant_id < 2**63:
            raise Http404
        membership = memberships_of(user=request.user).filter(tenant_id=tenant_id).first()
        if membership is None:
            raise Http404
        session_tenant_choose(request, membership.tenant_id)
        messages.success(request, f"Switched to {membership.tenant.name}.")
        return HttpResponseRedirect(reverse("dashboard"))


class TenantCreateView(LoginRequiredMixin, FormView):
    form_class = TenantForm
    template_name = "tenants/tenant_new.html"

    def form_valid(self, form: TenantForm) -> HttpResponse:
        tenant = services.tenant_create(name=form.cleaned_data["name"], owner=self.request.user)
        session_tenant_choose(self.request, tenant.pk)
        messages.success(self.request, f"{tenant.name} is ready. You are its owner.")
        return redirect("dashboard")


class ApiKeyListView(TenantScopedViewMixin, TemplateView):
    """The tenant's keys, and a form to issue one (for people with the admin scope)."""

    template_name = "tenants/api_keys.html"
    scoped_model = ApiKey

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        can_manage = Scope.ADMIN in self.access.scopes
        form = kwargs.pop("form", None) or (ApiKeyForm(held=self.access.scopes) if can_manage else None)
        origins = self.access.tenant.allowed_origins
        origins_form = kwargs.pop("origins_form", None) or (
            OriginsForm(initial={"origins": "\n".join(origins)}) if can_manage else None
        )
        return super().get_context_data(
            keys=self.get_queryset().select_related("created_by").order_by("revoked_at", "-created_at"),
            form=form,
            origins=origins,
            origins_form=origins_form,
            can_manage=can_manage,
            api_base=self.request.build_absolute_uri("/api/v1/"),
            **kwargs,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        """Issue a key and show its secret in this response only (never in the session)."""
        if Scope.ADMIN not in self.access.scopes:
            raise PermissionDenied("Only owners and admins can issue API keys.")
        form = ApiKeyForm(request.POST, held=self.access.scopes)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        if not form.claim():  # the page was reloaded: the key exists, its secret was shown once
            messages.info(request, "That key was already created; its secret was shown once.")
            return redirect("api_keys")
        key, secret = services.api_key_create(
            tenant=self.access.tenant,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            kind=form.cleaned_data["kind"],
            created_by=request.user,
        )
        response = self.render_to_response(self.get_context_data(created=key, secret=secret))
        response["Cache-Control"] = "no-store"
        return response


class AllowedOriginsView(ApiKeyListView):
    """Set the web origins whose pages may use the publishable keys (owners and admins)."""

    required_scope = Scope.ADMIN
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OriginsForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(origins_form=form), status=400)
        tenant = services.tenant_origins_set(
            tenant=self.access.tenant, origins=form.cleaned_data["origins"], by=actor_of(self.access)
        )
        count = len(tenant.allowed_origins)
        messages.success(
            request, f"Saved: {count} allowed origin{'s' if count != 1 else ''} for publishable keys."
        )
        return redirect("api_keys")


class ApiKeyRevokeView(TenantScopedViewMixin, TemplateView):
    """Confirm, then revoke a key."""

    template_name = "tenants/api_key_revoke.html"
    scoped_model = ApiKey
    required_scope = Scope.ADMIN

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        key = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"], revoked_at=None)
        return super().get_context_data(key=key, **kwargs)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        key = get_object_or_404(self.get_queryset(), pk=pk, revoked_at=None)
        services.api_key_revoke(api_key=key, by=actor_of(self.access))
        messages.success(request, f"Revoked {key.name} ({key.prefix}…). It stops working now.")
        return redirect("api_keys")


# --- Team ------------------------------------------------------------------------------


def _grantable_roles(access: Access) -> list[str]:
    """The roles this person may give: owners any, admins all but owner."""
    return [role for role in Role.values if role != Role.OWNER or access.role == Role.OWNER]


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


class TeamView(TenantScopedViewMixin, TemplateView):
    """The tenant's members and open invitations; owners and admins invite and manage here."""

    template_name = "tenants/team.html"
    scoped_model = Membership

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        access = self.access
        can_manage = Scope.ADMIN in access.scopes
        grantable = _grantable_roles(access)
        members = list(team_members(tenant=access.tenant))
        invitations = list(invitations_open(tenant=access.tenant))
        # A refused action names the row it was about; the template shows the reason there.
        row_errors, invitation_errors = kwargs.pop("row_errors", {}), kwargs.pop("invitation_errors", {})
        for member in members:
            member.error = row_errors.get(member.pk)
        for invitation in invitations:
            invitation.error = invitation_errors.get(invitation.pk)
        form = kwargs.pop("form", None) or (InviteForm(grantable=grantable) if can_manage else None)
        return super().get_context_data(
            members=members,
            invitations=invitations,
            can_manage=can_manage,
            is_owner=access.role == Role.OWNER,
            last_owner=access.role == Role.OWNER and sum(m.role == Role.OWNER for m in members) == 1,
            form=form,
            role_choices=[(value, label) for value, label in Role.choices if value in grantable],
            roles=[(label, ROLE_HELP[value]) for value, label in Role.choices],
            invitation_days=services.INVITATION_TTL.days,
            **kwargs,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        """Invite someone by email with a role."""
        if Scope.ADMIN not in self.access.scopes:
            raise PermissionDenied("Only owners and admins can invite people.")
        form = InviteForm(request.POST, grantable=_grantable_roles(self.access))
        if form.is_valid():
            try:
                invitation, _ = services.invitation_create(
                    tenant=self.access.tenant,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)  # an error about the email lands beside the email
            else:
                messages.success(
                    request,
                    f"Invitation sent to {invitation.email} as {invitation.get_role_display()}. "
                    f"The link works for {services.INVITATION_TTL.days} days.",
                )
                return redirect("team")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class _TeamActionView(TeamView):
    """A button on the team page. A refusal shows the team page again (400), the reason by its row."""

    http_method_names = ["post"]
    required_scope = Scope.ADMIN

    def refused(self, **errors: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(**errors), status=400)


class MemberRoleView(_TeamActionView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:  # type: ignore[override]
        """Give a member another role."""
        membership = get_object_or_404(self.get_queryset().select_related("user"), pk=pk)
        form = RoleForm(request.POST, grantable=_grantable_roles(self.access))
        if not form.is_valid():
            return self.refused(row_errors={pk: " ".join(form.errors["role"])})
        try:
            membership = services.membership_role_change(
                membership=membership, role=form.cleaned_data["role"], actor=request.user
            )
        except ValidationError as error:
            return self.refused(row_errors={pk: _error_text(error)})
        messages.success(
            request, f"{membership.user.get_full_name()} is now {membership.get_role_display().lower()}."
        )
        return redirect("team")


class MemberRemoveView(_TeamActionView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:  # type: ignore[override]
        """Remove a member; they lose access at once."""
        membership = get_object_or_404(self.get_queryset().select_related("user"), pk=pk)
        try:
            services.membership_remove(membership=membership, actor=request.user)
        except ValidationError as error:
            return self.refused(row_errors={pk: _error_text(error)})
        if membership.user_id == request.user.pk:
            session_tenant_forget(request)
            messages.success(request, f"You left {self.access.tenant.name}.")
            return redirect("dashboard")
        messages.success(
            request,
            f"Removed {membership.user.get_full_name()} from {self.access.tenant.name}. "
            "They lost access at once.",
        )
        return redirect("team")


class TeamLeaveView(_TeamActionView):
    required_scope = Scope.READ

    def post(self, request: HttpRequest) -> HttpResponse:
        """Leave this workspace (not as its last owner)."""
        membership = get_object_or_404(self.get_queryset(), user=request.user)
        try:
            services.membership_leave(membership=membership)
        except ValidationError as error:
            return self.refused(leave_error=_error_text(error))
        session_tenant_forget(request)
        messages.success(request, f"You left {self.access.tenant.name}.")
        return redirect("dashboard")


class InvitationResendView(_TeamActionView):
    scoped_model = Invitation

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:  # type: ignore[override]
        """Email an open invitation again, with a new link."""
        invitation = get_object_or_404(self.get_queryset(), pk=pk, accepted_at=None, cancelled_at=None)
        try:
            services.invitation_resend(invitation=invitation, actor=request.user)
        except ValidationError as error:
            return self.refused(invitation_errors={pk: _error_text(error)})
        messages.success(
            request,
            f"Sent the invitation to {invitation.email} again. The new link works for "
            f"{services.INVITATION_TTL.days} days; the earlier one no longer works.",
        )
        return redirect("team")


class InvitationCancelView(_TeamActionView):
    scoped_model = Invitation

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:  # type: ignore[override]
        """Withdraw an open invitation; its link stops working."""
        invitation = get_object_or_404(self.get_queryset(), pk=pk, accepted_at=None, cancelled_at=None)
        try:
            services.invitation_cancel(invitation=invitation, actor=request.user)
        except ValidationError as error:
            return self.refused(invitation_errors={pk: _error_text(error)})
        messages.success(
            request, f"Cancelled the invitation to {invitation.email}. Its link no longer works."
        )
        return redirect("team")


@method_decorator(never_cache, name="dispatch")
@_auth_rate_limit  # its POST creates accounts, like sign-up
class InvitationView(TemplateView):
    """An emailed invitation link: join, log in first, switch account, or sign up and join."""

    template_name = "tenants/invitation.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.invitation = invitation_by_token(token=kwargs["token"])
        invitation = self.invitation
        if invitation is None or invitation.status != Invitation.Status.PENDING:
            return self.unusable()
        return super().dispatch(request, *args, **kwargs)

    def unusable(self) -> HttpResponse:
        invitation, user = self.invitation, self.request.user
        # A second click on the link of an invitation this person accepted: take them there.
        if (
            invitation is not None
            and user.is_authenticated
            and invitation.accepted_by_id == user.pk
            and memberships_of(user=user).filter(tenant_id=invitation.tenant_id).exists()
        ):
            session_tenant_choose(self.request, invitation.tenant_id)
            messages.info(self.request, f"You are already a member of {invitation.tenant.name}.")
            return redirect("dashboard")
        status = 404 if invitation is None else 410
        return render(
            self.request, "tenants/invitation_invalid.html", {"invitation": invitation}, status=status
        )

    def state(self) -> str:
        user = self.request.user
        if not user.is_authenticated:
            return "login" if User.objects.filter(email__iexact=self.invitation.email).exists() else "signup"
        return "join" if user.email.lower() == self.invitation.email else "wrong_account"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        state = self.state()
        form = kwargs.pop("form", None)
        if state == "signup" and form is None:
            form = InvitationSignupForm(email=self.invitation.email)
        return super().get_context_data(
            invitation=self.invitation,
            state=state,
            form=form,
            role_help=ROLE_HELP[self.invitation.role],
            **kwargs,
        )

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        """Join now, as the invited person, or as a new account for the invited email."""
        state = self.state()
        form = None
        try:
            if state == "join":
                membership = services.invitation_accept(invitation=self.invitation, user=request.user)
            elif state == "signup":
                form = InvitationSignupForm(request.POST, email=self.invitation.email)
                if not form.is_valid():
                    return self.render_to_response(self.get_context_data(form=form), status=400)
                user, membership = services.invitation_accept_signup(
                    invitation=self.invitation,
                    name=form.cleaned_data["name"],
                    password=form.cleaned_data["password"],
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                return self.render_to_response(self.get_context_data(), status=400)
        except ValidationError as error:
            if error.code in Invitation.Status.values:  # answered or withdrawn meanwhile
                self.invitation.refresh_from_db()
                return self.unusable()
            if form is None:
                raise
            form.add_error(None, _error_text(error))
            return self.render_to_response(self.get_context_data(form=form), status=400)
        session_tenant_choose(request, membership.tenant_id)
        role = membership.get_role_display().lower()
        messages.success(request, f"Welcome to {self.invitation.tenant.name}. You joined as {role}.")
        return redirect("dashboard")


# --- Staff two-factor ---------------------------------------------------------------------

# How long the secret shown after the password step can be confirmed: time enough to
# install an authenticator app, short enough that a walked-away screen does not stay open.
TWO_FACTOR_SETUP_SECONDS = 600
_TWO_FACTOR_SETUP_KEY = "two_factor_setup"
# Module size of the enrolment QR code, in CSS pixels: about 180 px wide, easy to scan.
_QR_SCALE = 4


@method_decorator(never_cache, name="dispatch")
@_auth_rate_limit
class TwoFactorView(LoginRequiredMixin, TemplateView):
    """A staff member's second factor for the admin: set up an authenticator app (password,
    then scan, then a first code) and get backup codes. Customers have no page here."""

    template_name = "tenants/two_factor.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not request.user.is_staff:
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("form", PasswordConfirmForm(request=self.request))
        return super().get_context_data(
            status=two_factor_status(user=self.request.user),
            self_enrol=settings.STAFF_TWO_FACTOR_SELF_ENROL,
            verified=self.request.user.is_verified(),
            **kwargs,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        """One of the steps, named by the form that was sent."""
        step = {"password": self.password_step, "confirm": self.confirm_step, "backup_codes": self.codes_step}
        handler = step.get(request.POST.get("step", ""))
        if handler is None:
            return self.render_to_response(self.get_context_data(), status=400)
        return handler(request)

    def password_step(self, request: HttpRequest) -> HttpResponse:
        if not settings.STAFF_TWO_FACTOR_SELF_ENROL:
            raise PermissionDenied("An operator sets up two-factor here (manage.py staff_two_factor).")
        form = PasswordConfirmForm(request.POST, request=request)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            device = services.staff_totp_start(user=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
            return redirect("two_factor")
        request.session[_TWO_FACTOR_SETUP_KEY] = {"device": device.pk, "started": time.time()}
        return self.setup_page(device, TokenForm())

    def confirm_step(self, request: HttpRequest) -> HttpResponse:
        setup = request.session.get(_TWO_FACTOR_SETUP_KEY) or {}
        fresh = time.time() - setup.get("started", 0) <= TWO_FACTOR_SETUP_SECONDS
        device = two_factor_pending(user=request.user, device_id=setup.get("device")) if fresh else None
        if device is None:
            messages.error(request, "That setup took too long or was started again elsewhere. Start again.")
            return redirect("two_factor")
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                device, codes = services.staff_totp_confirm(
                    user=request.user, device_id=device.pk, token=form.cleaned_data["token"]
                )
            except ValidationError as error:
                form.add_error("token", error)
            else:
                request.session.pop(_TWO_FACTOR_SETUP_KEY, None)
                otp_login(request, device)  # this session has just shown both factors
                return self.codes_page(codes)
        return self.setup_page(device, form, status=400)

    def codes_step(self, request: HttpRequest) -> HttpResponse:
        # Only a session that passed the second factor: a stolen password alone must not be
        # able to mint codes that stand in for it.
        if not request.user.is_verified():
            raise PermissionDenied(
                "Log in to the staff admin with your code first, then make new backup codes."
            )
        try:
            codes = services.staff_backup_codes_renew(user=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
            return redirect("two_factor")
        return self.codes_page(codes)

    def setup_page(self, device: TOTPDevice, form: TokenForm, status: int = 200) -> HttpResponse:
        """The secret, as a QR code and as text, and the box for the first code."""
        qr = segno.make(device.config_url, error="m")
        context = self.get_context_data(
            setup=True,
            qr=mark_safe(qr.svg_inline(scale=_QR_SCALE, dark="#000", light="#fff", title="QR code")),  # noqa: S308  (segno's own SVG)
            secret=b32encode(device.bin_key).decode(),
            token_form=form,
            setup_minutes=TWO_FACTOR_SETUP_SECONDS // 60,
        )
        return self.render_to_response(context, status=status)

    def codes_page(self, codes: list[str]) -> HttpResponse:
        return self.render_to_response(self.get_context_data(codes=codes))
