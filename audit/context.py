"""What the audit log knows about the request a change came from: its id, address and agent.

Set by RequestContextMiddleware for the length of one request; outside requests (tasks,
commands) it is empty and entries carry no request fields. Who acted is not taken from
here: the services are told explicitly.
"""

import contextvars
import ipaddress
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from config.observability import request_id_from
from tenants.lockout import client_ip

USER_AGENT_MAX = 300  # the column's length: agents longer than this are truncated


@dataclass(frozen=True)
class RequestInfo:
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str = ""


_EMPTY = RequestInfo()
_current: contextvars.ContextVar[RequestInfo] = contextvars.ContextVar("audit_request", default=_EMPTY)


def current() -> RequestInfo:
    return _current.get()


def _client_ip(request: HttpRequest) -> str | None:
    """The address the rate limits and the lockout see, as an IP the column takes."""
    value = (client_ip(request) or "").split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None  # a malformed header is not worth failing the change for


def request_info(request: HttpRequest) -> RequestInfo:
    # The id config.observability.RequestIdMiddleware gave the request (logs and Sentry
    # carry the same one); a request that skipped it gets one the same way.
    request_id = getattr(request, "request_id", None) or request_id_from(request.headers.get("X-Request-ID"))
    return RequestInfo(
        request_id=request_id,
        ip_address=_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
    )


class RequestContextMiddleware:
    """Makes the request's id, IP address and user agent available to audit_record."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        info = request_info(request)
        token = _current.set(info)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        return response
