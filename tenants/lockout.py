"""How django-axes sees a login attempt, and what a locked-out person is told.

Axes counts failed logins per (email, client address) pair and refuses the pair for a
cool-off once it reaches the limit (settings.AXES_*). These callables are named there.
"""

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def username_of(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The email an attempt was for, folded so that case and spaces make no new counter."""
    # Login forms post "username"; Django's test client and some callers pass "email".
    source = credentials if credentials else getattr(request, "POST", {})
    value = source.get("username") or source.get("email")
    return str(value).strip().lower() if value else None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, from the same place as the rate limits read it."""
    return request.META.get(settings.RATELIMIT_IP_META_KEY or "REMOTE_ADDR") or None


def locked_out(request: HttpRequest, *args: Any) -> HttpResponse:
    """The answer to a login refused by the lockout: the same whether or not the account
    exists, saying how long to wait and that resetting the password is the way out.

    Axes calls this with (request, response, credentials) from sync code and with
    (request, credentials) from async code; neither is needed here.
    """
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    response = render(request, "tenants/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(math.ceil(minutes * 60))
    response["Cache-Control"] = "no-store"
    return response
