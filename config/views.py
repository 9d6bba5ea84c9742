"""Error pages: JSON in the API's error shape under /api/, friendly HTML elsewhere."""

import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import csrf_exempt

from config.api import error_body


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "404.html", status=404)


# No state changes here, and a POST to a mistyped path should get the hint below, not a
# CSRF page in HTML.
@csrf_exempt
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Every unknown /api/ path, in every mode: JSON, never Django's HTML page."""
    message = "Not found."
    if not request.path.endswith("/"):
        message = f"Not found. API paths end with a slash: {request.path}/"
    return JsonResponse(error_body("not_found", message), status=404)


def request_too_large(request: HttpRequest) -> HttpResponse:
    """413: the body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (config.limits)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if _wants_json(request):
        body = error_body(
            "request_too_large",
            f"The request body is over the limit of {limit} bytes: send less at once (smaller batches).",
            {"limit_bytes": limit},
        )
        return JsonResponse(body, status=413)
    return HttpResponse(loader.get_template("413.html").render(), status=413)


def length_required(request: HttpRequest) -> HttpResponse:
    """411: a chunked body with no Content-Length, which Django would read as empty (config.limits)."""
    message = "Send the body with a Content-Length header; chunked request bodies are not read."
    if _wants_json(request):
        return JsonResponse(error_body("length_required", message), status=411)
    return HttpResponse(message, status=411, content_type="text/plain; charset=utf-8")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's own refusals (too many form fields, a host not allowed, a malformed body)."""
    if isinstance(exception, RequestDataTooBig):
        # The middleware refuses by Content-Length first; this is the same answer for a body
        # Django itself found too large.
        return request_too_large(request)
    if _wants_json(request):
        return JsonResponse(
            error_body("bad_request", "The request was refused: too large or malformed."), status=400
        )
    return HttpResponse(loader.get_template("400.html").render(), status=400)


# SQLSTATE classes and codes that mean the connection, not the statement, failed:
# 08 connection exceptions; 57P01-57P03 the server shutting down or not accepting yet.
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")
# Retry-After on a 503 for a database outage: a failover takes tens of seconds.
DATABASE_RETRY_AFTER_SECONDS = 30


def is_database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database could not be reached (not that a query was wrong).

    Deadlocks, cancelled statements and constraint errors stay 500s: they are our bugs to
    see, not an outage to wait out.
    """
    if isinstance(exc, InterfaceError):
        return True  # Django's word for a connection that is already closed
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if hasattr(cause, "sqlstate"):  # psycopg: no SQLSTATE means the client lost the server
        sqlstate = cause.sqlstate
        return sqlstate is None or sqlstate.startswith(_CONNECTION_SQLSTATES)
    return "unable to open database" in str(exc)  # SQLite, the embedded mode


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with code database_unavailable: JSON under /api/, a plain page elsewhere."""
    if _wants_json(request):
        body = error_body(
            "database_unavailable",
            "The database cannot be reached; nothing was saved. Try again shortly.",
        )
        response: HttpResponse = JsonResponse(body, status=503)
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception, so it is the one being handled: a
    # database outage, wherever it surfaced (a view, a middleware reading the session),
    # answers 503 rather than 500. Every write is in a transaction, so nothing half-done stays.
    if is_database_unavailable(sys.exception()):
        return database_unavailable(request)
    if _wants_json(request):
        body = error_body("server_error", "Something went wrong on our side. It has been logged.")
        return JsonResponse(body, status=500)
    # No request context: whatever broke (the database, say) must not break this page too.
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token: JSON under /api/, the 403 page elsewhere."""
    if _wants_json(request):
        body = error_body("csrf_failed", "CSRF check failed: send an API key, or the session's CSRF token.")
        return JsonResponse(body, status=403)
    return render(
        request, "403.html", {"reason": "The form had expired. Go back, reload and try again."}, status=403
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", "You cannot do this."), status=403)
    message = str(exception) if exception and str(exception) else "You cannot do this."
    return render(request, "403.html", {"reason": message}, status=403)


class FriendlyMethodNotAllowed:
    """A person who opens an action's address (a bookmark, a pasted link) gets a page that
    says what it is, not the browser's blank 405. The API keeps its JSON answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not _wants_json(request) and not response.content:
            friendly = render(request, "405.html", status=405)
            friendly["Allow"] = response.get("Allow", "")
            return friendly
        return response
