"""The lifelines pages: a facility page (latest values, open alarms, the thresholds its charts draw) and the
scenario pages, for staff in scope; another district's staff and citizens get 404."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from lifelines.models import AlarmLevel, Domain, ThresholdRule
from lifelines.services import readings_ingest
from organisations.models import Role
from tests.factories import person
from tests.lifelines.conftest import Station
from tests.lifelines.factories import FacilityFactory

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0).astimezone(UTC)


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alarming(station: Station) -> Station:
    """Supply temperature rules at yellow (above 80) and red (above 90, tightened to nothing: normal mode);
    a reading of 92 °C raised a red alarm."""
    ThresholdRule.objects.create(sensor_type=station.supply.sensor_type, level=AlarmLevel.YELLOW, upper=80, lower=20)
    ThresholdRule.objects.create(sensor_type=station.supply.sensor_type, level=AlarmLevel.RED, upper=90)
    items = [{"sensor": station.supply.code, "ts": (NOW - timedelta(minutes=2)).isoformat(), "value": 92.0}]
    assert not readings_ingest(device=station.device, items=items).refused
    return station


def test_the_facility_page_shows_latest_values_open_alarms_and_the_chart_thresholds(alarming: Station) -> None:
    page = browser(person(Role.DISPATCHER, alarming.city.a.centre)).get(
        f"/lifelines/facilities/{alarming.facility.pk}/"
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert alarming.facility.name in html and "HX1-T1" in html and "92" in html
    [alarm] = page.context["alarms"]
    assert (alarm.sensor_id, alarm.level) == (alarming.supply.pk, AlarmLevel.RED)
    supply = next(s for s in page.context["config"]["sensors"] if s["id"] == alarming.supply.pk)
    assert sorted((t["level"], t["bound"], t["value"]) for t in supply["thresholds"]) == [
        ("red", "upper", 90),
        ("yellow", "lower", 20),
        ("yellow", "upper", 80),
    ]
    assert 'src="/static/vendor/echarts/echarts.min.js"' in html  # served locally, never from a CDN


def test_the_echarts_bundle_is_served_from_the_npm_package() -> None:
    response = Client().get("/static/vendor/echarts/echarts.min.js")
    assert response.status_code == 200
    assert b"echarts" in b"".join(response.streaming_content)[:2000].lower()


def test_another_districts_staff_and_citizens_get_404(alarming: Station) -> None:
    url = f"/lifelines/facilities/{alarming.facility.pk}/"
    assert browser(person(Role.DISPATCHER, alarming.city.b.centre)).get(url).status_code == 404
    assert browser(person(Role.CITIZEN)).get(url).status_code == 404
    assert (
        browser(person(Role.DISPATCHER, alarming.city.b.centre)).get("/lifelines/heating/").context["summary"].total
        == 0
    )
    assert Client().get(url).status_code == 302  # to the login page


def test_the_heating_page_counts_facilities_by_state_and_lists_the_worst(alarming: Station) -> None:
    city = alarming.city
    FacilityFactory(cell=city.a.cells[1], name="安静换热站")
    FacilityFactory(cell=city.b.cells[0], name="别区换热站")  # outside the dispatcher's district
    FacilityFactory(cell=city.a.cells[1], name="某燃气站", domain=Domain.GAS)

    page = browser(person(Role.DISPATCHER, city.a.centre)).get("/lifelines/heating/")

    assert page.status_code == 200
    summary = page.context["summary"]
    assert (summary.total, summary.normal, summary.by_level["red"], summary.offline) == (2, 1, 1, 0)
    assert [f.name for f in summary.worst] == [alarming.facility.name]
    assert {p["name"] for p in summary.points} == {alarming.facility.name, "安静换热站"}
    html = page.content.decode()
    assert alarming.facility.name in html and "别区换热站" not in html and "某燃气站" not in html


@pytest.mark.parametrize("slug", ["heating", "gas", "waterlogging", "bridges"])
def test_every_scenario_page_renders_in_chinese_by_default(station: Station, slug: str) -> None:
    client = browser(person(Role.DISPATCHER, station.city.root))
    client.cookies.pop("django_language", None)
    page = client.get(f"/lifelines/{slug}/", HTTP_ACCEPT_LANGUAGE="")
    assert page.status_code == 200
    assert '<html lang="zh-hans">' in page.content.decode()


def test_an_unknown_scenario_is_404(station: Station) -> None:
    assert browser(person(Role.DISPATCHER, station.city.root)).get("/lifelines/sewers/").status_code == 404
