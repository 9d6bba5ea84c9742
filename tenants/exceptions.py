"""API errors with their machine-readable codes (rendered by config.api.exception_handler)."""

from rest_framework import exceptions, status


class InvalidApiKey(exceptions.AuthenticationFailed):
    default_detail = "The API key is not valid."
    default_code = "invalid_api_key"


class ApiKeyRevoked(exceptions.AuthenticationFailed):
    default_detail = "This API key has been revoked."
    default_code = "api_key_revoked"


class TenantSuspended(exceptions.PermissionDenied):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This account is suspended. Contact support to reactivate it."
    default_code = "tenant_suspended"


class NoTenant(exceptions.PermissionDenied):
    default_detail = "You are not a member of the selected tenant (or of any tenant)."
    default_code = "no_tenant"


class MissingScope(exceptions.PermissionDenied):
    default_code = "missing_scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"This action needs the '{scope}' scope.")


class PublishableKeyNotAllowed(exceptions.PermissionDenied):
    default_detail = (
        "Publishable keys can only quote (GET or POST /api/v1/quote/) and send events "
        "(POST /api/v1/events/). "
        "Use a secret key from your servers for everything else."
    )
    default_code = "publishable_key_not_allowed"


class BrowserKeyRefused(exceptions.PermissionDenied):
    """A key sent from a web page that may not be used there (see tenants.apikeys.browser_refusal)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
