"""ASGI entry point: WebSocket (and, in the embedded mode, HTTP too).

In production the `realtime` service runs this for WebSocket and SSE only; plain HTTP
goes to the WSGI server, which costs a fraction of the CPU per request (FACTS.md).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from config.startup import refuse_insecure_start, warm_up  # noqa: E402

refuse_insecure_start()
warm_up()


class SessionOriginValidator:
    """Check the Origin only of connections that rely on the session cookie.

    A cookie is sent by any page the person has open, so a session connection must come
    from one of our own hosts (no cross-site WebSocket hijacking). A Bearer key or a
    minted token is not ambient: servers send no Origin at all, and a storefront on the
    tenant's own domain must be able to connect with its token.
    """

    def __init__(self, inner):
        self.inner = inner
        self.checked = AllowedHostsOriginValidator(inner)

    async def __call__(self, scope, receive, send):
        explicit = any(name.lower() == b"authorization" for name, _ in scope.get("headers", [])) or (
            b"token=" in scope.get("query_string", b"")
        )
        return await (self.inner if explicit else self.checked)(scope, receive, send)


from sentry_sdk.integrations.asgi import SentryAsgiMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Sentry's ASGI middleware gives each connection its own scope (tenant and request
        # id tags) and reports what a consumer raises; without a DSN it does nothing.
        "websocket": SentryAsgiMiddleware(
            SessionOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
