"""Django's Content-Security-Policy middleware, with the page's own WebSocket origin allowed.

The live price board (static/js/live.js) opens ``ws(s)://<this host>/ws/prices/``. CSP
Level 3 lets ``'self'`` match ws: and wss: on the same host, but browsers older than that
do not, and allowing the schemes ``ws: wss:`` would let a script talk to any host. So each
response names exactly its own host's WebSocket origin.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.middleware import csp


def websocket_origin(request: HttpRequest) -> str | None:
    """``wss://host`` (``ws://`` over plain HTTP) for this request's host, or None if it has none."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return None  # CommonMiddleware has already refused the request
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class ContentSecurityPolicyMiddleware(csp.ContentSecurityPolicyMiddleware):
    """SECURE_CSP with the request's WebSocket origin in connect-src (views may still override)."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        config = settings.SECURE_CSP
        if config and not hasattr(response, "_csp_config"):
            origin = websocket_origin(request)
            if origin is not None:
                response._csp_config = {**config, "connect-src": [*config.get("connect-src", []), origin]}
        return super().process_response(request, response)
