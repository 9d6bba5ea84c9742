"""The product's URLs, plus ``/bench/bare/``: the baseline a quote is measured against."""

import json

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """Bare Django: parse the quote's JSON body, answer a quote-shaped JSON body, nothing else."""
    body = json.loads(request.body or b"{}")
    items = [
        {"sku": sku, "price": "10.00", "currency": "EUR", "experiment": None, "variant": None, "error": None}
        for sku in body.get("products", [])
    ]
    return JsonResponse({"visitor_id": body.get("visitor_id"), "items": items, "quota_exceeded": False})


urlpatterns = [path("bench/bare/", bare), *product_urlpatterns]
