from typing import Any

from django.http import HttpRequest

from tenants.access import session_access
from tenants.selectors import memberships_of


def active_tenant(request: HttpRequest) -> dict[str, Any]:
    """The session's tenant and the tenants it can switch to, for the page header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "access": session_access(request),
        "memberships": lambda: list(memberships_of(user=user)),
    }
