"""static/js/cluster-layer.js in a real browser against the live server's map tiles: it draws the clusters and the
points, a click on a cluster zooms in, a click on a point hands its item to the callback, refresh() revalidates
the tiles it shows. The page is a bare map injected into one of the site's own pages (no route of its own)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.test import Client
from playwright.sync_api import Browser, Page

from geography.models import Component
from geography.tiles import component_clusters_rebuild
from organisations.models import Role
from tests.factories import ComponentFactory, SmallCity, person, small_city

pytestmark = pytest.mark.e2e

HARNESS = """
async ({lat, lon, zoom, refreshAtOnce}) => {
  document.body.innerHTML = '<div id="map" style="width: 800px; height: 600px"></div>';
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = "/static/leaflet/leaflet.css";
  document.head.appendChild(css);
  await new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/static/leaflet/leaflet.js";
    script.onload = resolve;
    script.onerror = reject;
    document.head.appendChild(script);
  });
  const { ClusterLayer } = await import("/static/js/cluster-layer.js");
  const map = L.map("map", { fadeAnimation: false, zoomAnimation: false }).setView([lat, lon], zoom);
  const seen = { bodies: [], clicked: [], loads: 0 };
  const layer = new ClusterLayer({
    url: "/api/v1/map/components/{z}/{x}/{y}/",
    colour: (point) => (point.status === "damaged" ? "#c0392b" : "#1b74d1"),
    onPointClick: (point) => seen.clicked.push(point),
  });
  layer.on("tiledata", (event) => seen.bodies.push(event.body));
  layer.on("load", () => { seen.loads += 1; });
  layer.addTo(map);
  // While the first requests are in flight (they cannot finish before this task ends).
  if (refreshAtOnce) layer.refresh();
  window.harness = { map, layer, seen };
}
"""


@pytest.fixture
def town(transactional_db: None) -> SmallCity:
    city = small_city()
    rng = random.Random(7)
    for cell in city.a.cells:
        west, south, east, north = cell.geom.extent
        for _ in range(40):
            ComponentFactory(grid_cell=cell, location=Point(rng.uniform(west, east), rng.uniform(south, north)))
    component_clusters_rebuild()
    return city


@pytest.fixture
def page(browser: Browser, live_server: Any, town: SmallCity) -> Iterator[Page]:
    client = Client()
    client.force_login(person(Role.LEADER, town.root))
    context = browser.new_context(viewport={"width": 1000, "height": 800}, locale="zh-CN")
    context.set_default_timeout(15_000)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/api/v1/me/")
    yield page
    context.close()


def open_map(page: Page, point: Point, zoom: int) -> None:
    page.evaluate(HARNESS, {"lat": point.y, "lon": point.x, "zoom": zoom, "refreshAtOnce": False})
    page.wait_for_function("() => window.harness.seen.loads > 0")


def painted(page: Page) -> int:
    """Non-transparent pixels over all the layer's canvases."""
    return page.evaluate(
        """() => [...document.querySelectorAll(".cluster-tile canvas")].reduce((sum, canvas) => {
             const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
             let n = 0;
             for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
             return sum + n;
           }, 0)"""
    )


def screen_point(page: Page, lat: float, lon: float) -> tuple[float, float]:
    at = page.evaluate(
        "([lat, lon]) => { const p = window.harness.map.latLngToContainerPoint([lat, lon]);"
        " const box = document.getElementById('map').getBoundingClientRect();"
        " return [box.left + p.x, box.top + p.y]; }",
        [lat, lon],
    )
    return at[0], at[1]


def test_clusters_are_drawn_with_their_counts_and_a_click_zooms_in(
    page: Page, town: SmallCity, shot: Callable[[Page, str], Any]
) -> None:
    open_map(page, town.a.cells[0].geom.centroid, 13)
    shot(page, "cluster-layer")

    bodies = page.evaluate("() => window.harness.seen.bodies")
    clusters = [cluster for body in bodies for cluster in body["clusters"]]
    assert sum(body["total"] for body in bodies) == Component.objects.count()  # the whole small city is in view
    assert clusters and painted(page) > 0
    lon, lat, count, *_ = max(clusters, key=lambda c: c[2])
    assert count > 1

    page.mouse.click(*screen_point(page, lat, lon))

    page.wait_for_function("() => window.harness.map.getZoom() === 15")


def test_a_click_on_a_point_gives_its_item_to_the_callback(page: Page, town: SmallCity) -> None:
    west, south, *_ = town.a.cells[0].geom.extent
    # North of the grid cell, where nothing else lies.
    component = ComponentFactory(
        grid_cell=town.a.cells[0], location=Point(west + 0.0005, south + 0.004), status="damaged"
    )
    open_map(page, component.location, 19)
    points = [point for body in page.evaluate("() => window.harness.seen.bodies") for point in body["points"]]
    assert component.pk in [point[0] for point in points]

    page.mouse.click(*screen_point(page, component.location.y, component.location.x))

    page.wait_for_function("() => window.harness.seen.clicked.length > 0")
    clicked = page.evaluate("() => window.harness.seen.clicked")
    assert clicked[0]["id"] == component.pk
    assert clicked[0]["status"] == "damaged" and clicked[0]["class"] == "0101"


def test_refresh_asks_the_server_again_for_every_tile_it_shows(page: Page, town: SmallCity) -> None:
    open_map(page, town.a.cells[0].geom.centroid, 13)
    tiles = page.evaluate("() => window.harness.seen.bodies.length")
    revalidated: list[str] = []
    page.on("request", lambda request: revalidated.append(request.url) if "/api/v1/map/" in request.url else None)

    page.evaluate("() => { window.harness.seen.bodies = []; window.harness.layer.refresh(); }")

    page.wait_for_function(f"() => window.harness.seen.bodies.length === {tiles}")
    assert len(revalidated) == tiles
    assert painted(page) > 0


def test_a_refresh_during_the_first_load_still_completes_it(page: Page, town: SmallCity) -> None:
    centre = town.a.cells[0].geom.centroid
    # The live feed may call refresh() at any moment, also while the layer's first tiles are loading.
    page.evaluate(HARNESS, {"lat": centre.y, "lon": centre.x, "zoom": 13, "refreshAtOnce": True})

    page.wait_for_function("() => window.harness.seen.loads > 0")

    assert painted(page) > 0
    hidden = page.evaluate("() => document.querySelectorAll('.cluster-tile:not(.leaflet-tile-loaded)').length")
    assert hidden == 0
