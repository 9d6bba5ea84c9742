"""The everyday quote, answered before the middlewares that serve pages and sessions."""

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse

from billing import ratelimit
from pricing import api


class QuoteShortcutMiddleware:
    """Answers ``POST /api/v1/quote/`` by a key this process holds, skipping the rest of the stack.

    What sits below this middleware in settings.MIDDLEWARE (sessions, CSRF, login, second
    factor, messages, htmx, the friendly 405 page, the login lockout) does nothing for a
    quote by API key, yet passing through it cost a quote about a tenth of its throughput
    (bench/quote.py). What sits above it (request id, security headers, CSP, the body size
    limit, CORS) applies to the quote as to every request. The quote is answered by the
    same code as in its view (``pricing.api.quote_direct``) and counted by the same rate
    limit. Anything out of the ordinary (a host not in ALLOWED_HOSTS, an unknown or revoked
    key, a body or header DRF must judge, a record Redis says changed, Redis down) goes down
    the whole stack to the view, as before; an error while pricing is answered here as
    Django would answer it below, and counted.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        everyday = request.path_info == ratelimit.QUOTE_PATH and request.method == "POST"
        if not everyday or not _host_allowed(request) or not ratelimit.defer(request):
            return self.get_response(request)
        try:
            response = api.quote_direct(request)
        except Exception as error:
            # Answered (and logged) as Django would below, where the rate-limit middleware
            # would count the failed request and label it: so here too.
            response = response_for_exception(request, error)
        if response is None:
            ratelimit.undefer(request)
            return self.get_response(request)
        response = ratelimit.deferred_finish(request, response)
        # As CommonMiddleware below would: without it the server chunks the body.
        response["Content-Length"] = str(len(response.content))
        return response


def _host_allowed(request: HttpRequest) -> bool:
    """ALLOWED_HOSTS, which CommonMiddleware below checks: a request for another host goes
    down the stack to get its 400 there."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True
