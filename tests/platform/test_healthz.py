"""/healthz tells an operator whether the database, Redis and a Celery worker are reachable."""

from __future__ import annotations

import pytest
from django.test import override_settings

from qingdao_ops.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_it_reports_503_and_names_celery_when_no_worker_runs(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["detail"].startswith("postgis ")
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["celery"]["ok"] is False
    assert "no Celery worker" in body["checks"]["celery"]["detail"]


@pytest.mark.worker
def test_it_reports_200_when_database_redis_and_a_worker_answer(client, celery_worker_process):
    response = client.get("/healthz")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"
    assert all(check["ok"] for check in response.json()["checks"].values())


def test_it_reports_503_when_redis_is_unreachable(client, monkeypatch):
    # A port nothing listens on: the probe must say Redis is down rather than raise.
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_it_refuses_methods_other_than_get(client):
    assert client.post("/healthz").status_code == 405
