"""Refusing to serve on an insecure configuration, and the matching deploy check."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

INSECURE_KEY_MESSAGE = (
    "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, "
    "or set DEBUG=true for local development."
)


def insecure() -> bool:
    return not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY


def refuse_insecure_start() -> None:
    """Called by every entry point that serves or runs work: WSGI, ASGI, Celery."""
    if insecure():
        raise ImproperlyConfigured(INSECURE_KEY_MESSAGE)


def warm_up() -> None:
    """Import every view now, as a server process starts, rather than on its first request.

    Django imports the URLconf, and with it every view and what they import, on the first
    request a process serves; with two workers a deploy made the first request of each pay
    for it, 0.7-1.1 s (SciPy's statistics alone, for results). A server loads its
    application before it accepts connections, so here no client waits for it.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (the import is the point)


@register(Tags.security, deploy=True)
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    return [Error(INSECURE_KEY_MESSAGE, id="pricelab.E001")] if insecure() else []
