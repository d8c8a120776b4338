"""Settings for the city operations platform, read from the environment.

Development (`make run`) sets DJANGO_DEBUG=true; production sets DJANGO_SECRET_KEY,
DJANGO_ALLOWED_HOSTS, DATABASE_URL and REDIS_URL. With DATABASE_URL / REDIS_URL unset,
the private services under ./var (scripts/services.sh) are used.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from qingdao_ops.env import env_bool, env_int, env_list, env_str, load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent
if not env_bool("QDOPS_NO_ENV_FILE", False):
    # The private services' URLs, written by scripts/services.sh; real environment variables win.
    load_env_file(BASE_DIR / "var" / "services.env")

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-development-key-only-for-debug" if DEBUG else None)
if not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters in production.")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leaflet",
    "treebeard",
    "django_celery_beat",
    "channels",
    # Shared concepts every domain uses.
    "catalogue",
    "organisations",
    "geography",
    "workcalendar",
    "photos",
    # One app per domain.
    "cases",
    "command",
    "field",
    "lifelines",
    "sanitation",
    "enforcement",
    "citizen",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "qingdao_ops.urls"
WSGI_APPLICATION = "qingdao_ops.wsgi.application"
ASGI_APPLICATION = "qingdao_ops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "command.context_processors.operating_mode",
            ],
        },
    },
]

# --- Database: PostgreSQL + PostGIS only; there is no other backend.
DATABASE_URL = env_str("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set and no private database runs: run `make run` or `make test` "
        "(they start one under ./var), or set DATABASE_URL=postgis://user:password@host:port/name."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60))}
# No JIT: the platform's queries are short, and PostgreSQL's JIT compiled some map and list queries for longer
# (30-60 ms) than they ran.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
if DATABASES["default"]["ENGINE"] != "django.contrib.gis.db.backends.postgis":
    raise ImproperlyConfigured("DATABASE_URL must use the postgis:// scheme (PostgreSQL with PostGIS).")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and result store, channel layer, cache.
REDIS_URL = env_str("REDIS_URL", "")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set and no private Redis runs: run `make run` or `make test`, or set REDIS_URL=redis://host:port/0."
    )
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # socket_timeout None: a timeout would close idle consumers (channels_redis#422).
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE = {
    # Overdue flags and 80% warnings; a run still queued when the next is due is dropped (expires).
    "cases-sweep-deadlines": {"task": "cases.sweep_deadlines", "schedule": 60.0, "options": {"expires": 55}},
    # Idempotency keys of the inspectors' submissions, kept 30 days (cases.idempotency).
    "cases-purge-idempotency-keys": {"task": "cases.purge_client_submissions", "schedule": crontab(hour=3, minute=41)},
    # The map's open-case counts at city scale (cases.map_counts): appended changes folded in.
    "cases-compact-open-case-cells": {
        "task": "cases.compact_open_case_cells",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    # The components layer's cluster counts (zoom 16 and below), again from the table: nightly, besides the
    # rebuild after each component import (geography.services), for edits made in the admin one at a time.
    "geography-rebuild-component-clusters": {
        "task": "geography.rebuild_component_clusters",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 3600},
    },
    # Lifeline readings: monthly partitions created ahead, those past LIFELINES_READING_RETENTION_DAYS dropped.
    "lifelines-maintain-partitions": {
        "task": "lifelines.maintain_partitions",
        "schedule": crontab(minute=7),
        "options": {"expires": 3000},
    },
    # Lifeline alarms: offline sensors (silent past LIFELINES_OFFLINE_FACTOR intervals) and escalation, every minute.
    "lifelines-sweep-offline": {"task": "lifelines.sweep_offline", "schedule": 60.0, "options": {"expires": 55}},
    "lifelines-escalate-alarms": {"task": "lifelines.escalate_alarms", "schedule": 60.0, "options": {"expires": 55}},
    # Alarm changes the live feed missed while Redis was away (lifelines.live), published once it is back.
    "lifelines-republish-alarms": {"task": "lifelines.republish_alarms", "schedule": 60.0, "options": {"expires": 55}},
    # Field inspectors: shifts left open over 14 hours ended; cases awaiting verification that intake's hook could
    # not offer (lost message, nobody on duty then) offered to the nearest inspector; positions kept 30 days.
    "field-close-stale-shifts": {"task": "field.close_stale_shifts", "schedule": 600.0, "options": {"expires": 590}},
    "field-assign-pending": {
        "task": "field.assign_pending_verifications",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "field-purge-positions": {
        "task": "field.purge_positions",
        "schedule": crontab(hour=4, minute=23),
        "options": {"expires": 3600},
    },
}

# --- People
AUTH_USER_MODEL = "organisations.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Language and time: Simplified Chinese first, English second.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- Static and media files
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Front-end packages from npm (package-lock.json; `make deps` runs npm ci): only these files are served.
NPM_STATIC_FILES = {"vendor/echarts/echarts.min.js": "echarts/dist/echarts.min.js"}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "qingdao_ops.npm_static.NpmFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "qingdao_ops.storage.StaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
if DEBUG:
    # WhiteNoise serves from the finders in development but warns when STATIC_ROOT is missing.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

# --- Photos (photos/services.py): uploads over these limits are refused. 20 MB and 50 MP let a
# full-resolution 48 MP phone photo through.
PHOTO_MAX_BYTES = env_int("DJANGO_PHOTO_MAX_BYTES", 20 * 1024 * 1024)
PHOTO_MAX_PIXELS = env_int("DJANGO_PHOTO_MAX_PIXELS", 50_000_000)

# --- API
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous or bad-token request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "organisations.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Qingdao city operations platform API",
    "DESCRIPTION": "Cases, lifelines, sanitation, enforcement, citizen services and evaluation. "
    "Coordinates are WGS 84 (EPSG:4326) unless an endpoint says otherwise.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind`; each enum gets its own name instead of a clash (and a renamed KindEnum).
    "ENUM_NAME_OVERRIDES": {
        "ClassKindEnum": "catalogue.models.ClassKind",
        "SupervisionKindEnum": "cases.models.SupervisionKind",
    },
}

# --- Lifelines: raw sensor readings are kept this many days (whole monthly partitions are dropped after).
LIFELINES_READING_RETENTION_DAYS = env_int("LIFELINES_READING_RETENTION_DAYS", 400)
# The MQTT broker devices publish readings to (`manage.py mqtt_ingest`); empty: mqtt://127.0.0.1:1883.
MQTT_URL = env_str("MQTT_URL", "")
# An alarm at or above this level (blue, yellow, orange, red) opens a case, unless its rule says otherwise.
LIFELINES_CASE_LEVEL = env_str("LIFELINES_CASE_LEVEL", "orange")
# A sensor silent for more than this many expected intervals raises an offline alarm.
LIFELINES_OFFLINE_FACTOR = env_int("LIFELINES_OFFLINE_FACTOR", 3)

# --- Maps: no tiles unless a tile URL is configured; districts and the grid draw as vectors.
MAP_TILE_URL = env_str("MAP_TILE_URL", "")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "")
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (36.07, 120.38),
    "DEFAULT_ZOOM": 10,
    "MIN_ZOOM": 3,
    "MAX_ZOOM": 19,
    "TILES": [(str(_("Base map")), MAP_TILE_URL, {"attribution": MAP_TILE_ATTRIBUTION})] if MAP_TILE_URL else [],
    "RESET_VIEW": False,
}

# --- Security: strict unless DEBUG.
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The health endpoint is probed over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

SILENCED_SYSTEM_CHECKS = [
    # Debian 12 ships GDAL 3.6, which Django 5.2 calls old (gis.W001); it works for everything used here.
    "gis.W001",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
