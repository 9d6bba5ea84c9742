"""WebSocket routes."""

from django.urls import path

from pricing.consumers import PriceFeedConsumer

websocket_urlpatterns = [
    path("ws/prices/", PriceFeedConsumer.as_asgi()),
]
