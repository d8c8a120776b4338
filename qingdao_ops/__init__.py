"""The project package: settings, URLs, ASGI/WSGI entry points, the Celery app and WebSocket routing."""

from qingdao_ops.celery import app as celery_app

__all__ = ["celery_app"]
