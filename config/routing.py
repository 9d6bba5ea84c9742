"""WebSocket routes. The live price feed (/ws/prices/) arrives with the live-prices issue."""

websocket_urlpatterns: list = []
