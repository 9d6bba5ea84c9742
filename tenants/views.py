from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.generic import FormView, TemplateView
from django_ratelimit.decorators import ratelimit

from tenants import services
from tenants.access import SESSION_TENANT_KEY, session_access, session_tenant_choose, session_tenant_forget
from tenants.forms import ApiKeyForm, LoginForm, SignupForm, TenantForm
from tenants.mixins import TenantScopedViewMixin
from tenants.models import ApiKey, Membership, Scope
from tenants.selectors import memberships_of

auth_rate_limited = ratelimit(
    key="ip", rate=lambda group, request: settings.AUTH_RATE_LIMIT, method="POST", block=True
)
_auth_rate_limit = method_decorator(auth_rate_limited, name="dispatch")

# How long a client refused by the login/signup rate limit should wait, in seconds.
AUTH_RETRY_AFTER_SECONDS = 60


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The answer to a blocked login or signup attempt (settings.RATELIMIT_VIEW)."""
    response = render(request, "429.html", status=429)
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
    post_reset_login = False


@_auth_rate_limit
class SignupView(FormView):
    form_class = SignupForm
    template_name = "tenants/signup.html"

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
        return super().get_context_data(
            keys=self.get_queryset().select_related("created_by").order_by("revoked_at", "-created_at"),
            form=form,
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
        key, secret = services.api_key_create(
            tenant=self.access.tenant,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
        )
        response = self.render_to_response(self.get_context_data(created=key, secret=secret))
        response["Cache-Control"] = "no-store"
        return response


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
        services.api_key_revoke(api_key=key)
        messages.success(request, f"Revoked {key.name} ({key.prefix}…). It stops working now.")
        return redirect("api_keys")
