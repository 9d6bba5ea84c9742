from typing import Any

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from tenants.access import Access, session_access
from tenants.exceptions import MissingScope, NoTenant, PublishableKeyNotAllowed, TenantSuspended
from tenants.models import KeyKind, Scope


def request_access(request: Request) -> Access:
    """The caller's Access, from the API key or the session; refuses everyone else."""
    if isinstance(request.auth, Access):
        return request.auth
    if not request.user.is_authenticated:
        raise NotAuthenticated("Send 'Authorization: Bearer <api key>' or log in.")
    access = session_access(request._request)
    if access is None:
        raise NoTenant()
    if not access.tenant.is_active:
        raise TenantSuspended()
    return access


class HasTenantScope(BasePermission):
    """Admits a caller with a tenant and the scope the action needs.

    A view names its scopes in ``required_scopes`` by HTTP method; by default reading
    needs ``read`` and everything else ``write``. Publishable keys hold no scopes: they pass
    only the methods a view lists in ``publishable_methods`` (quote and events).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        access = request_access(request)
        request.access = access
        if access.key_kind == KeyKind.PUBLISHABLE:
            if request.method not in getattr(view, "publishable_methods", ()):
                raise PublishableKeyNotAllowed()
            return True
        required = getattr(view, "required_scopes", {}).get(request.method)
        if required is None:
            required = Scope.READ if request.method in SAFE_METHODS else Scope.WRITE
        if required not in access.scopes:
            raise MissingScope(required)
        return True
