"""Settings for the test suite: the real services, with tasks run eagerly unless a test starts a worker."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from qingdao_ops.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests only
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
CELERY_TASK_EAGER_PROPAGATES = True

# Each pytest-xdist process gets its own Redis database, so the Celery worker one process
# starts never answers another's tasks or pings.
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "gw-1")
# TEST_RUN_SLOT separates concurrent test runs on one machine (own test database and Redis databases).
_slot = int(os.environ.get("TEST_RUN_SLOT", "0"))
REDIS_URL = f"{REDIS_URL.rsplit('/', 1)[0]}/{1 + _slot * 3 + int(_xdist[2:]) + 1}"  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": f"test_qingdao_ops{_slot or ''}"}  # noqa: F405
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"] = REDIS_URL  # noqa: F405
CELERY_BROKER_URL = CELERY_RESULT_BACKEND = REDIS_URL
# The case event log refuses TRUNCATE unless the session allows it (cases migration 0002); the flush
# between transactional tests truncates every table, so test connections allow it.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c cases.allow_log_truncate=on"  # noqa: F405
