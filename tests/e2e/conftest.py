"""Browser fixtures: Debian's chromium through Playwright's sync API, a small real Qingdao, screenshots."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a thread
# with a running loop unless told that this is deliberate (the test code is still synchronous).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, Page, Request  # noqa: E402

from catalogue.models import ClassKind, MajorClass, MinorClass  # noqa: E402
from geography.coords import geometry_gcj02_to_wgs84  # noqa: E402
from geography.models import Community, Component, ComponentStatus, District, Street  # noqa: E402
from organisations.models import OrgUnit, Role, UnitType, User  # noqa: E402
from organisations.services import membership_grant, unit_create, user_create  # noqa: E402

DISTRICTS_FILE = settings.BASE_DIR / "geography" / "fixtures" / "qingdao_districts.geojson"
SCREENSHOTS = settings.BASE_DIR / "var" / "screenshots"
PASSWORD = "correct horse battery staple"


@dataclass
class Tab:
    """A page plus every URL it requested, so a test can say that nothing left the server."""

    page: Page
    requests: list[str] = field(default_factory=list)

    def foreign_requests(self, origin: str) -> list[str]:
        return [url for url in self.requests if not url.startswith((origin, "data:", "blob:"))]


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    # A Chinese desktop browser: the language a dispatcher's machine sends.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    tab = Tab(page)

    def record(request: Request) -> None:
        tab.requests.append(request.url)

    page.on("request", record)
    yield tab
    context.close()


@pytest.fixture
def shot() -> Callable[[Page, str], Path]:
    """Save a full-window screenshot under var/screenshots/ (not committed) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take


@dataclass
class City:
    districts: list[District]
    centre: OrgUnit
    district_centre: OrgUnit
    dispatcher: User
    district_dispatcher: User
    administrator: User
    component_codes: list[str]


@pytest.fixture
def city(transactional_db: None) -> City:
    """Qingdao's ten districts (from the demo fixture), a few streets, units, three people, components."""
    data = json.loads(Path(DISTRICTS_FILE).read_text(encoding="utf-8"))
    districts = []
    for feature in sorted(data["features"], key=lambda f: f["properties"]["adcode"]):
        geom = geometry_gcj02_to_wgs84(GEOSGeometry(json.dumps(feature["geometry"]), srid=4326))
        if geom.geom_type == "Polygon":
            geom = MultiPolygon(geom, srid=4326)
        districts.append(
            District.objects.create(
                code=str(feature["properties"]["adcode"]), name=feature["properties"]["name"], geom=geom
            )
        )
    for district in districts:
        for s in range(1, 4):
            street = Street.objects.create(
                code=f"{district.code}{s:03d}", name=f"{district.name}第{s}街道", district=district, geom=district.geom
            )
            Community.objects.bulk_create(
                Community(
                    code=f"{street.code}{c:03d}",
                    name=f"{street.name}{c}社区",
                    street=street,
                    district=district,
                    geom=district.geom,
                )
                for c in range(1, 3 + s)
            )
    shinan = districts[0]
    centre = unit_create(name="青岛市城市运行管理服务指挥中心", code="QD", unit_type=UnitType.CITY_CENTRE)
    district_centre = unit_create(
        name="市南区城市运行管理服务中心",
        code="QD-202",
        unit_type=UnitType.DISTRICT_CENTRE,
        parent=centre,
        district=shinan,
    )
    unit_create(name="市城市管理局", code="QD-CG", unit_type=UnitType.DEPARTMENT, parent=centre)
    unit_create(name="青岛水务集团", code="QD-SW", unit_type=UnitType.COMPANY, parent=centre)

    dispatcher = user_create(username="paiqian", full_name="王晓梅", phone="0532-8591 2345", password=PASSWORD)
    membership_grant(user=dispatcher, role=Role.DISPATCHER, unit=centre)
    membership_grant(user=dispatcher, role=Role.INTAKE_CLERK, unit=centre)
    district_dispatcher = user_create(username="shinan", full_name="赵立新", password=PASSWORD)
    membership_grant(user=district_dispatcher, role=Role.DISPATCHER, unit=district_centre)
    administrator = user_create(username="guanli", full_name="李建国", password=PASSWORD)
    membership_grant(user=administrator, role=Role.ADMINISTRATOR, unit=centre)

    major = MajorClass.objects.create(kind=ClassKind.COMPONENT, code="01", name="公用设施")
    manhole = MinorClass.objects.create(major=major, code="01", name="上水井盖")
    inner = shinan.geom.point_on_surface
    components = [
        Component(
            code=f"{shinan.code}0101{n:06d}",
            minor_class=manhole,
            name=f"上水井盖{n}",
            district=shinan,
            location=Point(inner.x, inner.y, srid=4326),
            status=ComponentStatus.DAMAGED if n == 7 else ComponentStatus.NORMAL,
            address=f"香港中路{n}号",
        )
        for n in range(1, 31)
    ]
    Component.objects.bulk_create(components)
    return City(
        districts=districts,
        centre=centre,
        district_centre=district_centre,
        dispatcher=dispatcher,
        district_dispatcher=district_dispatcher,
        administrator=administrator,
        component_codes=[c.code for c in components],
    )


def sign_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login-form button[type=submit]")
    page.wait_for_url(f"{base_url}/")
