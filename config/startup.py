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


@register(Tags.security, deploy=True)
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    return [Error(INSECURE_KEY_MESSAGE, id="pricelab.E001")] if insecure() else []
