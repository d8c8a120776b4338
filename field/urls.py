"""/m/: the field inspector's web app (pages, its manifest and service worker)."""

app_name = "field"

urlpatterns: list = []
