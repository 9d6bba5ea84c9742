"""Request-size limits, applied before any view reads a byte of the body.

Django checks ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when ``request.body`` or ``request.POST``
is read; DRF's parsers read the raw stream and never ask. So the limit is enforced here,
once, from ``Content-Length`` (without it Django reads no body at all), for the API and the
pages alike: 413 with code ``request_too_large`` under /api/, a friendly page elsewhere.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config import views


def body_too_large(request: HttpRequest) -> bool:
    """Whether the request announces a body over the limit (a malformed length counts as over)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = request.META.get("CONTENT_LENGTH") or "0"
    if limit is None:
        return False
    try:
        return int(raw) > limit
    except ValueError:
        return True


def body_unsized(request: HttpRequest) -> bool:
    """A chunked body without Content-Length: Django would read it as empty, and a create
    would answer "this field is required" for every field of a body that was sent."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked and not request.META.get("CONTENT_LENGTH")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if body_too_large(request):
            return views.request_too_large(request)
        if body_unsized(request):
            return views.length_required(request)
        return self.get_response(request)
