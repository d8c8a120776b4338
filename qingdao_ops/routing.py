"""WebSocket routes; each domain app adds its consumers here."""

from django.urls import path

from command.consumers import LiveFeedConsumer

websocket_urlpatterns: list = [
    path("ws/live/", LiveFeedConsumer.as_asgi()),
]
