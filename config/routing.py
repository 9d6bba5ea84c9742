"""WebSocket routes."""

from django.urls import path, re_path

from pricing.consumers import PriceFeedConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/prices/", PriceFeedConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
