"""Who may listen to a tenant's live price feed: session, API key, or short-lived token.

Browsers on the tenant's own storefront cannot hold a secret key, so the tenant's
server mints a token (``POST /api/v1/realtime/tokens/``) that the browser puts in the
WebSocket URL. It is signed, names one tenant, and expires after a few minutes; a
long-lived secret never travels in a URL.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.core import signing

from config.observability import tenant_set
from tenants import apikeys
from tenants.models import ApiKey, KeyKind, Membership, Scope, Tenant
from tenants.selectors import membership_active

TOKEN_SALT = "pricelab.realtime-token"  # noqa: S105  (a namespace for signatures, not a secret)
# Long enough for a page to load and connect; short enough that a leaked URL is useless soon.
TOKEN_TTL_SECONDS = 300

# WebSocket close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def token_mint(*, tenant_id: int, api_key_id: int | None = None, user_id: int | None = None) -> str:
    """A token naming the tenant and who minted it: it dies with that key or membership."""
    return signing.dumps({"tenant": tenant_id, "key": api_key_id, "user": user_id}, salt=TOKEN_SALT)


@dataclass(frozen=True)
class Listener:
    tenant: Tenant | None = None
    close_code: int | None = None
    reason: str = ""
    message: str = ""  # for a person reading the refusal (the SSE feed's JSON answer)
    api_key_id: int | None = None  # the key the connection stands on, directly or by token
    user_id: int | None = None  # the person it stands on, by session or by a token they minted


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _own_origin(scope: dict[str, Any]) -> str | None:
    """This site's origin as the request reached it."""
    host = _header(scope, b"host")
    return f"{scope.get('scheme', 'http')}://{host}" if host is not None else None


def query(scope: dict[str, Any]) -> dict[str, str]:
    raw = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {key: values[-1] for key, values in raw.items()}


def authenticate(scope: dict[str, Any]) -> Listener:
    """The tenant a WebSocket/SSE connection may listen to, or why it may not."""
    authorization = _header(scope, b"authorization")
    token = query(scope).get("token")
    tenant: Tenant | None
    if authorization is not None:
        parts = authorization.split()
        record = apikeys.lookup(parts[1]) if len(parts) == 2 and parts[0].lower() == "bearer" else None
        if record is None:
            return Listener(close_code=CLOSE_UNAUTHENTICATED, reason="invalid_api_key")
        if record.revoked:
            return Listener(close_code=CLOSE_UNAUTHENTICATED, reason="api_key_revoked")
        # The SSE feed, fetched with a key from a web page. (Browsers cannot set headers on a
        # WebSocket, and Channels' origin validator wants an Origin from every client there.)
        refusal = (
            apikeys.browser_refusal(record, _header(scope, b"origin"), _own_origin(scope))
            if scope.get("type") == "http"
            else None
        )
        if refusal is not None:
            return Listener(close_code=CLOSE_FORBIDDEN, reason=refusal[0], message=refusal[1])
        if record.kind == KeyKind.PUBLISHABLE:
            return Listener(
                close_code=CLOSE_FORBIDDEN,
                reason="publishable_key_not_allowed",
                message="Publishable keys cannot follow the price feed: use a secret key from your "
                "servers, or a token minted with one (POST /api/v1/realtime/tokens/).",
            )
        if Scope.READ not in record.scopes:
            return Listener(
                close_code=CLOSE_FORBIDDEN,
                reason="missing_scope",
                message="This key lacks the read scope the price feed needs.",
            )
        tenant = Tenant.objects.filter(pk=record.tenant_id).first()
        key_id = record.id
        user_id = None
    elif token is not None:
        try:
            payload = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_TTL_SECONDS)
        except signing.SignatureExpired:
            return Listener(close_code=CLOSE_UNAUTHENTICATED, reason="token_expired")
        except signing.BadSignature:
            return Listener(close_code=CLOSE_UNAUTHENTICATED, reason="invalid_token")
        tenant = Tenant.objects.filter(pk=payload.get("tenant")).first()
        key_id = payload.get("key")
        if key_id is not None:
            key = ApiKey.objects.unscoped().filter(pk=key_id, tenant=tenant).first()
            if key is None or key.is_revoked:
                return Listener(close_code=CLOSE_UNAUTHENTICATED, reason="api_key_revoked")
        user_id = payload.get("user")
        if (
            user_id is not None
            and not Membership.objects.unscoped().filter(user_id=user_id, tenant=tenant).exists()
        ):
            return Listener(close_code=CLOSE_FORBIDDEN, reason="no_tenant")
    else:
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            return Listener(close_code=CLOSE_UNAUTHENTICATED, reason="not_authenticated")
        session = scope.get("session")
        chosen = session.get("tenant_id") if session is not None else None
        membership = membership_active(user=user, tenant_id=chosen)
        if membership is None:
            return Listener(close_code=CLOSE_FORBIDDEN, reason="no_tenant")
        tenant = membership.tenant
        key_id = None
        user_id = user.pk
    if tenant is None:
        return Listener(close_code=CLOSE_UNAUTHENTICATED, reason="invalid_api_key")
    if not tenant.is_active:
        return Listener(close_code=CLOSE_FORBIDDEN, reason="tenant_suspended")
    asked = query(scope).get("tenant")
    if asked is not None and asked != tenant.slug:
        return Listener(close_code=CLOSE_FORBIDDEN, reason="wrong_tenant")
    tenant_set(tenant_id=tenant.pk, slug=tenant.slug)
    return Listener(tenant=tenant, api_key_id=key_id, user_id=user_id)
