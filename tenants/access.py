"""Who is calling, for which tenant, and what they may do: resolved once per request."""

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from config.observability import tenant_set
from tenants.models import Tenant, User
from tenants.selectors import membership_active

SESSION_TENANT_KEY = "tenant_id"


@dataclass(frozen=True)
class Access:
    """The caller's tenant and scopes, whether they came by API key or by session."""

    tenant: Tenant
    scopes: frozenset[str]
    user: User | None = None
    role: str | None = None
    api_key_id: int | None = None
    # "secret" or "publishable" for an API key (tenants.models.KeyKind); None for a session.
    key_kind: str | None = None
    # An API key's record carries its tenant's limits; sessions read them from the cache.
    key_limits: Any = field(default=None, repr=False, compare=False)

    @property
    def via(self) -> str:
        return "api_key" if self.api_key_id is not None else "session"

    @property
    def limits(self) -> Any:
        """The tenant's plan limits (billing.selectors.Limits)."""
        if self.key_limits is not None:
            return self.key_limits
        from billing.limits import limits_cached  # billing builds on tenants

        return limits_cached(self.tenant.pk)


def session_access(request: HttpRequest) -> Access | None:
    """The access of a logged-in person in the tenant their session has chosen."""
    if hasattr(request, "_session_access"):
        return request._session_access
    access = None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        membership = membership_active(user=user, tenant_id=request.session.get(SESSION_TENANT_KEY))
        if membership is not None:
            access = Access(
                tenant=membership.tenant,
                scopes=membership.scopes,
                user=user,
                role=membership.role,
            )
    request._session_access = access
    if access is not None:
        tenant_set(tenant_id=access.tenant.pk, slug=access.tenant.slug)
    return access


def session_tenant_forget(request: HttpRequest) -> None:
    """Drop the session's chosen tenant (the person is no longer a member of it)."""
    request.session.pop(SESSION_TENANT_KEY, None)
    if hasattr(request, "_session_access"):
        del request._session_access


def session_tenant_choose(request: HttpRequest, tenant_id: int) -> None:
    """Make the session work in another tenant (membership is checked on every request)."""
    request.session[SESSION_TENANT_KEY] = tenant_id
    if hasattr(request, "_session_access"):
        del request._session_access
