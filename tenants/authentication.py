from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from config.observability import tenant_set
from tenants import apikeys
from tenants.access import Access
from tenants.exceptions import ApiKeyRevoked, BrowserKeyRefused, InvalidApiKey, TenantSuspended
from tenants.models import Tenant


def own_origin(request: HttpRequest) -> str | None:
    """This site's origin as the request reached it (None if the request has no Origin to compare)."""
    if "HTTP_ORIGIN" not in request.META:
        return None
    return f"{request.scheme}://{request.get_host()}"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <api key>``. ``request.auth`` becomes the caller's Access."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, Access] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise InvalidApiKey("The Authorization header must be 'Bearer <api key>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise InvalidApiKey() from None
        record = apikeys.lookup_for(request._request, raw)
        if record is None:
            raise InvalidApiKey()
        if record.revoked:
            raise ApiKeyRevoked()
        if record.tenant_status != Tenant.Status.ACTIVE:
            raise TenantSuspended()
        tenant_set(tenant_id=record.tenant_id, slug=record.tenant_slug)
        refusal = apikeys.browser_refusal(record, request.headers.get("Origin"), own_origin(request._request))
        if refusal is not None:
            raise BrowserKeyRefused(*refusal)
        apikeys.note_used(record)
        access = Access(
            tenant=record.tenant(),
            scopes=record.scopes,
            api_key_id=record.id,
            key_kind=record.kind,
            key_limits=record.limits,
        )
        return AnonymousUser(), access

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
