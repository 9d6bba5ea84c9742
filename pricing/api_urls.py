from django.urls import path, register_converter
from rest_framework.routers import SimpleRouter

from pricing import api, sse, webhook_api
from pricing.converters import SkuConverter

register_converter(SkuConverter, "sku")

router = SimpleRouter(use_regex_path=False)
router.register("products", api.ProductViewSet, basename="product")
router.register("webhooks", webhook_api.WebhookEndpointViewSet, basename="webhook")

urlpatterns = [
    path("quote/", api.QuoteView.as_view(), name="api-quote"),
    path("realtime/tokens/", api.RealtimeTokenView.as_view(), name="api-realtime-token"),
    path("prices/stream", sse.price_stream, name="api-price-stream"),
    *router.urls,
]
