"""The field app's pages at /m/: the shell only for inspectors (sign-in first; a clear refusal for other staff; not
there for citizens), the manifest and the service worker served publicly with the types and scope browsers require,
the worker precaching the static files under their deployed names and versioned by them."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from cases.models import Source
from field import views
from organisations.models import Role
from tests.cases.factories import CaseWorld, case_world, event_class, reported
from tests.factories import person

QUERIES_MAX = 6  # session, user, roles, the grid, the tasks (5 today)


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def world(db: Any) -> CaseWorld:
    return case_world()


def client_for(user: Any = None) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        client.force_login(user)
    return client


def json_script(html: str, element_id: str) -> Any:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no #{element_id} on the page"
    return json.loads(found.group(1))


# --- the shell


def test_an_anonymous_visitor_is_sent_to_sign_in_and_back(db: Any) -> None:
    response = client_for().get("/m/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/m/"


def test_an_inspector_gets_the_app_with_its_words_and_settings(world: CaseWorld) -> None:
    response = client_for(world.inspector).get("/m/")

    assert response.status_code == 200
    html = response.content.decode()
    config = json_script(html, "field-config")
    text = json_script(html, "field-text")
    assert config["user"] == {"id": world.inspector.pk, "name": world.inspector.full_name or "jiandu"}
    assert config["serviceWorker"] == "/m/sw.js" and config["scope"] == "/m/"
    assert [u["value"] for u in config["urgencies"]] == ["normal", "urgent", "emergency"]
    assert text["outbox"] == "Outbox" and "consentText" in text
    assert '<link rel="manifest" href="/m/manifest.webmanifest">' in html
    # Every module the shell loads at once is preloaded (no waterfall of imports on a slow connection).
    for module in views.SHELL_MODULES[1:]:
        assert f'rel="modulepreload" href="/static/{module}"' in html
    assert response["Cache-Control"].startswith("max-age=0")  # the worker, not the HTTP cache, keeps it offline


def test_the_app_speaks_chinese_by_default(world: CaseWorld) -> None:
    client = Client()
    client.force_login(world.inspector)
    with translation.override(None):
        response = client.get("/m/")

    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.content.decode()


def test_staff_without_the_inspector_role_are_told_it_is_for_inspectors(world: CaseWorld) -> None:
    response = client_for(world.dispatcher).get("/m/")

    assert response.status_code == 403
    assert "Field inspection is for inspectors" in response.content.decode()
    assert "field-config" not in response.content.decode()


def test_a_citizen_finds_no_field_app(world: CaseWorld) -> None:
    citizen = person(Role.CITIZEN, username="shimin")

    response = client_for(citizen).get("/m/")

    assert response.status_code == 404


def test_the_shell_is_read_only(world: CaseWorld) -> None:
    response = client_for(world.inspector).post("/m/")

    assert response.status_code == 405


# --- the manifest and the worker


def test_the_manifest_is_public_and_installable(db: Any) -> None:
    response = client_for().get("/m/manifest.webmanifest")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["start_url"] == "/m/" and manifest["scope"] == "/m/"
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert client_for().get(icon["src"]).status_code == 200, icon["src"]


def test_the_service_worker_is_served_as_javascript_with_the_apps_scope(db: Any) -> None:
    response = client_for().get("/m/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Service-Worker-Allowed"] == "/m/"
    assert response["Cache-Control"] == "no-cache"
    body = response.content.decode()
    assert f'const VERSION = "{views.asset_version()}";' in body
    assert "{%" not in body and "{{" not in body


def test_the_worker_precaches_every_file_the_app_needs_under_its_deployed_name(db: Any) -> None:
    body = client_for().get("/m/sw.js").content.decode()
    assets = json.loads(re.search(r"const ASSETS = (\[.*?\]);", body).group(1))

    expected = {
        "/static/field/app.js",
        "/static/field/store.js",
        "/static/field/map.js",
        "/static/leaflet/leaflet.js",
        "/static/js/cluster-layer.js",
    }
    assert expected <= set(assets)
    for url in assets:
        assert client_for().get(url).status_code == 200, url
    assert re.search(r'importScripts\("/static/field/store\.js"\)', body)


def test_the_workers_version_follows_the_deployed_file_names(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    before = views._asset_version(views.PRECACHED)
    monkeypatch.setattr(views, "static", lambda path: f"/static/{path}?v=2")

    assert views._asset_version(views.PRECACHED) != before


def test_the_shell_carries_the_first_page_of_tasks_so_the_first_screen_needs_no_second_request(
    world: CaseWorld,
) -> None:
    to_verify = reported(world, source=Source.CITIZEN, reporter=None, reporter_name="张女士")
    elsewhere = reported(world, source=Source.CITIZEN, reporter=None, reporter_name="李先生", location=world.in_b)

    html = client_for(world.inspector).get("/m/").content.decode()

    tasks = json_script(html, "field-tasks")
    assert [(t["number"], t["task"]) for t in tasks["results"]] == [(to_verify.number, "verify")]
    assert elsewhere.number not in html
    assert tasks["at"]


def test_the_shell_costs_a_handful_of_queries_however_many_tasks(
    world: CaseWorld, django_assert_max_num_queries: Any
) -> None:
    client = client_for(world.inspector)
    for metres in range(0, 200, 20):
        reported(world, source=Source.CITIZEN, reporter=None, reporter_name="市民", location=world.near(metres))

    with django_assert_max_num_queries(QUERIES_MAX):
        response = client.get("/m/")

    assert len(json_script(response.content.decode(), "field-tasks")["results"]) == 10


def test_the_phone_keeps_a_compact_catalogue_for_its_class_picker(world: CaseWorld) -> None:
    # A catalogue of a real size whatever earlier tests left (a flush empties the migrated one): gzip only
    # compresses bodies of 200 bytes or more.
    for code in range(10, 20):
        event_class(str(code))
    response = client_for(world.inspector).get("/m/classes.json", HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    rows = json.loads(gzip.decompress(response.content))["results"]
    by_code = {(row["kind"], row["code"]): row for row in rows}
    assert by_code[("component", world.manhole.full_code)] == {
        "kind": "component",
        "code": world.manhole.full_code,
        "name": world.manhole.name,
        "name_en": world.manhole.name_en,
        "major": world.manhole.major.name,
        "selfHandle": False,
    }
    assert by_code[("event", world.litter.full_code)]["selfHandle"] is True
    assert client_for().get("/m/classes.json").status_code == 302
