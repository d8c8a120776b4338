# Production image: daphne (web), Celery worker and beat all run from this one image.

# Front-end packages from the npm registry, exactly as package-lock.json pins them (collectstatic takes the
# files NPM_STATIC_FILES names from node_modules/).
FROM node:20-bookworm-slim AS npm
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=qingdao_ops.settings

RUN apt-get update \
    && apt-get install -y --no-install-recommends gdal-bin libgdal32 libgeos-c1v5 libproj25 gettext curl procps \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 qdops

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=npm /build/node_modules /app/node_modules

# collectstatic and compilemessages need settings to import; the real values come at run time.
RUN DJANGO_DEBUG=false \
    DJANGO_SECRET_KEY=build-time-only-not-a-secret-build-time-only-not-a-secret \
    DATABASE_URL=postgis://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    sh -c "python manage.py collectstatic --noinput -v 0 && python manage.py compilemessages -v 0 --ignore=.venv" \
    && mkdir -p /app/var/media && chown -R qdops /app/var

USER qdops
EXPOSE 8000
CMD ["gunicorn", "--config", "qingdao_ops/gunicorn.conf.py", "--bind", "0.0.0.0:8000", "qingdao_ops.wsgi:application"]
