"""Error pages: JSON in the API's error shape under /api/, friendly HTML elsewhere."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

from config.api import error_body


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "404.html", status=404)


def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Every unknown /api/ path, in every mode: JSON, never Django's HTML page."""
    message = "Not found."
    if not request.path.endswith("/"):
        message = f"Not found. API paths end with a slash: {request.path}/"
    return JsonResponse(error_body("not_found", message), status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's own refusals (a body over the size limit, a host not allowed)."""
    if _wants_json(request):
        return JsonResponse(
            error_body("bad_request", "The request was refused: too large or malformed."), status=400
        )
    return HttpResponse(loader.get_template("400.html").render(), status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        body = error_body("server_error", "Something went wrong on our side. It has been logged.")
        return JsonResponse(body, status=500)
    # No request context: whatever broke (the database, say) must not break this page too.
    return HttpResponse(loader.get_template("500.html").render(), status=500)


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
