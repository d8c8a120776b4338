"""WSGI entry point (the platform serves through ASGI/daphne; this is for tools that expect WSGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qingdao_ops.settings")
application = get_wsgi_application()
