"""/m/: the field inspector's web app (pages, its manifest and service worker)."""

from django.urls import path

from field import views

app_name = "field"

urlpatterns = [
    path("", views.app_shell, name="app"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("classes.json", views.classes, name="classes"),
    # At /m/ (not under /static/) so that its scope can be the app: a worker controls only URLs below its own.
    path("sw.js", views.service_worker, name="service-worker"),
]
