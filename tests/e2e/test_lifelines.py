"""Lifelines in a real browser against a real daphne: a breaching reading sent through the devices' API appears
live in the command centre's alarm queue (and pulses on the map), is acknowledged from the list; the facility page
draws an ECharts chart with the threshold lines; the heating page summarises the stations. Screenshots go to
var/screenshots/ (README's docs/lifelines-*.png are copies)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from rest_framework.test import APIClient

from lifelines.models import Alarm, AlarmLevel, AlarmState, Domain, Facility, FacilityKind, ThresholdRule
from lifelines.services import device_token_issue, readings_ingest
from tests.command.servers import running_daphne
from tests.e2e.conftest import City
from tests.lifelines.factories import DeviceFactory, SensorFactory, SensorTypeFactory

pytestmark = pytest.mark.e2e
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
DOCS = settings.BASE_DIR / "var" / "screenshots"
DOCS.mkdir(parents=True, exist_ok=True)
NOW = timezone.now().replace(second=0, microsecond=0).astimezone(UTC)


@pytest.fixture(scope="module")
def daphne(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with running_daphne() as port:
        yield f"http://127.0.0.1:{port}"


def _page(browser: Browser, base: str, user: Any) -> Page:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    return context.new_page()


def _stations(city: City) -> tuple[Facility, Any, str]:
    """Four heat-exchange stations in 市南区; the first reports supply temperature and pressure for the last day."""
    inner = city.districts[0].geom.point_on_surface
    stations = [
        Facility.objects.create(
            code=f"HX-SN-{n:03d}",
            name=f"{name}换热站",
            domain=Domain.HEATING,
            kind=FacilityKind.HEAT_EXCHANGE_STATION,
            location=Point(inner.x + 0.006 * n, inner.y + 0.004 * (n % 2), srid=4326),
            owner_unit=city.district_centre,
            address=f"香港中路{10 + n}号",
        )
        for n, name in enumerate(["燕儿岛路", "东海西路", "南京路", "湛山"])
    ]
    station = stations[0]
    device = DeviceFactory(facility=station)
    temperature = SensorFactory(code="HX-SN-000-T1", name="一次供水温度", facility=station, device=device)
    pressure_type = SensorTypeFactory(
        code="heat_supply_pressure", name="供水压力", metric="pressure", unit="MPa", valid_max=2.5
    )
    pressure = SensorFactory(
        code="HX-SN-000-P1", name="一次供水压力", facility=station, device=device, sensor_type=pressure_type
    )
    ThresholdRule.objects.create(sensor_type=temperature.sensor_type, level=AlarmLevel.YELLOW, upper=85, lower=55)
    ThresholdRule.objects.create(sensor_type=temperature.sensor_type, level=AlarmLevel.RED, upper=95)
    ThresholdRule.objects.create(sensor_type=pressure_type, level=AlarmLevel.ORANGE, upper=1.2, lower=0.4)
    items = []
    for i in range(288, 0, -1):  # every 5 minutes for a day, a daily cycle
        ts = NOW - timedelta(minutes=5 * i)
        phase = math.sin(2 * math.pi * i / 288)
        items.append({"sensor": temperature.code, "ts": ts.isoformat(), "value": round(72 + 8 * phase, 2)})
        items.append({"sensor": pressure.code, "ts": ts.isoformat(), "value": round(0.8 + 0.12 * phase, 3)})
    assert not readings_ingest(device=device, items=items).refused
    return station, temperature, device_token_issue(device=device)


def test_a_breaching_reading_appears_live_in_the_queue_and_the_facility_page_charts_it(
    browser: Browser, daphne: str, city: City
) -> None:
    station, sensor, token = _stations(city)
    page = _page(browser, daphne, city.district_dispatcher)
    page.goto(f"{daphne}/command/")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live")
    expect(page.locator("#alarm-queue")).to_have_attribute("data-loaded", "true")
    expect(page.locator("#alarm-queue .alarm-row")).to_have_count(0)

    device = APIClient()
    device.credentials(HTTP_AUTHORIZATION=f"Device {token}")
    answer = device.post(
        "/api/v1/lifelines/readings/", [{"sensor": sensor.code, "ts": NOW.isoformat(), "value": 97.5}], format="json"
    )
    assert answer.status_code == 200 and not answer.json()["refused"]

    row = page.locator("#alarm-queue .alarm-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-level", "red")
    expect(row).to_contain_text(station.name)
    expect(row).to_contain_text("97.5")
    expect(page.locator(f'.alarm-marker.pulsing[data-facility="{station.pk}"]')).to_be_visible()
    page.screenshot(path=str(DOCS / "lifelines-command-centre.png"))
    row.locator("[data-ack]").click()
    expect(row).to_have_attribute("data-state", "acknowledged")
    alarm = Alarm.objects.get(sensor=sensor)
    assert (alarm.state, alarm.acknowledged_by) == (AlarmState.ACKNOWLEDGED, city.district_dispatcher)

    page.goto(f"{daphne}/lifelines/facilities/{station.pk}/")
    chart = page.locator(f'[data-chart="{sensor.pk}"]')
    expect(chart).to_have_attribute("data-ready", "true")
    expect(chart.locator("canvas")).to_have_count(1)
    lines = page.evaluate(
        """id => {
          const series = window.lifelinesCharts[id].getOption().series;
          const thresholds = series.find((s) => s.id === "thresholds");
          return thresholds.markLine.data.map((d) => d.yAxis).sort((a, b) => a - b);
        }""",
        sensor.pk,
    )
    assert lines == [55, 85, 95]
    values = page.evaluate(
        "id => window.lifelinesCharts[id].getOption().series.find((s) => s.id === 'value').data.map((p) => p[1])",
        sensor.pk,
    )
    assert 280 <= len(values) <= 289 and values[-1] == 97.5  # the day's readings and the breach, raw (under 500)
    page.screenshot(path=str(DOCS / "lifelines-facility.png"), full_page=True)

    page.goto(f"{daphne}/lifelines/heating/")
    expect(page.locator("#scenario-map")).to_have_attribute("data-ready", "true")
    expect(page.locator('#state-counts [data-state="total"] b')).to_have_text("4")
    expect(page.locator('#state-counts [data-state="red"] b')).to_have_text("1")
    expect(page.locator("#worst tbody tr")).to_have_count(1)
    page.screenshot(path=str(DOCS / "lifelines-heating.png"), full_page=True)
    page.context.close()
