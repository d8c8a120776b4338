"""gunicorn, the production HTTP server (docker-compose `web`); WebSockets go to daphne (`ws`).

Why not daphne for HTTP too: under ASGI every request runs in a thread of its own, so Django opens a new
database connection per request (persistent connections cannot be kept), and a new PostgreSQL backend plans
each query with a cold catalogue cache. A WSGI worker keeps its connection (CONN_MAX_AGE) for many requests.
"""

import os

# gunicorn's recommendation, (2 x cores) + 1; WEB_CONCURRENCY (gunicorn's own variable) overrides it.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)
# Sync workers: each request holds one worker (and its one database connection) from start to end.
worker_class = "sync"
timeout = 60
graceful_timeout = 30
# Recycle workers now and then, so a slow leak in any library never grows without bound.
max_requests = 20_000
max_requests_jitter = 2_000
# The proxy in front sets X-Forwarded-* (SECURE_PROXY_SSL_HEADER trusts it only from there).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
