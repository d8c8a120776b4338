"""The Celery application; tasks live in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qingdao_ops.settings")

app = Celery("qingdao_ops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
