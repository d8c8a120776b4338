"""Reachability checks behind /healthz: database, Redis and at least one Celery worker."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection

from qingdao_ops.celery import app as celery_app

CELERY_PING_TIMEOUT = 1.0


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT postgis_lib_version()")
        return f"postgis {cursor.fetchone()[0]}"


def check_redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return "pong"
    finally:
        client.close()


def check_celery() -> str:
    # limit=1: answer as soon as one worker replies instead of waiting out the timeout.
    replies = celery_app.control.ping(timeout=CELERY_PING_TIMEOUT, limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered a ping")
    return f"{len(replies)} worker(s)"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "redis": check_redis,
    "celery": check_celery,
}


def run_checks() -> tuple[bool, dict[str, dict[str, object]]]:
    results: dict[str, dict[str, object]] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            detail = check()
            ok = True
        except Exception as exc:  # noqa: BLE001  (any failure of a dependency is reported, not raised)
            detail = f"{type(exc).__name__}: {exc}"
            ok = False
        healthy &= ok
        results[name] = {"ok": ok, "detail": detail, "ms": round((time.monotonic() - started) * 1000, 1)}
    return healthy, results
