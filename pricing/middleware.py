"""The everyday quote, answered before the middlewares that serve pages and sessions."""

from collections.abc import Callable

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
    limit; anything out of the ordinary (a key this process has not read yet, an error,
    a changed record) goes down the whole stack to the view, as before.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == ratelimit.QUOTE_PATH and request.method == "POST" and ratelimit.defer(request):
            response = api.quote_direct(request)
            if response is not None:
                response = ratelimit.deferred_finish(request, response)
                # As CommonMiddleware below would: without it the server chunks the body.
                response["Content-Length"] = str(len(response.content))
                return response
            ratelimit.undefer(request)
        return self.get_response(request)
