"""In a real browser: sign in, the home map, the language switch, the admin, and the API docs, all offline."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import City, Tab, sign_in

pytestmark = pytest.mark.e2e


def test_a_dispatcher_signs_in_sees_the_districts_on_the_map_and_switches_language(
    city: City, tab: Tab, live_server, shot
):
    page = tab.page

    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.locator("h1")).to_have_text("登录")
    shot(page, "login-zh")

    sign_in(page, live_server.url, "paiqian")
    expect(page.locator(".identity-name")).to_have_text("王晓梅")
    expect(page.locator("#roles")).to_contain_text("派遣员")
    expect(page.locator("#roles")).to_contain_text("青岛市城市运行管理服务指挥中心")
    # One vector outline per district, drawn as SVG paths (no base map is configured).
    outlines = page.locator("#home-map path.leaflet-interactive")
    expect(outlines).to_have_count(len(city.districts))
    expect(page.locator("#home-map .district-label").first).to_be_visible()
    expect(page.locator("#home-map .leaflet-tile")).to_have_count(0)
    assert page.locator("#home-map").get_attribute("data-ready") == "true"
    shot(page, "home-zh")

    page.hover("#districts tr[data-district]:nth-child(2)")
    expect(page.locator("#districts tr.hot")).to_have_count(1)

    page.select_option("#lang-select", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#map-title")).to_have_text("Districts in your scope")
    expect(page.locator("#roles")).to_contain_text("Dispatcher")
    expect(page.locator(".topbar")).to_contain_text("Sign out")
    expect(outlines).to_have_count(len(city.districts))
    shot(page, "home-en")

    page.select_option("#lang-select", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#map-title")).to_have_text("可见范围内的区")
    assert tab.foreign_requests(live_server.url) == []


def test_a_district_dispatcher_sees_only_their_district_outlined(city: City, tab: Tab, live_server, shot):
    page = tab.page

    sign_in(page, live_server.url, "shinan")

    expect(page.locator("#home-map path.leaflet-interactive")).to_have_count(1)
    expect(page.locator("#districts tbody tr")).to_have_count(1)
    expect(page.locator("#districts")).to_contain_text("市南区")
    expect(page.locator(".topnav")).not_to_contain_text("管理后台")
    shot(page, "home-district-dispatcher-zh")


def test_an_administrator_opens_the_admin_the_organisation_tree_and_finds_a_component_by_code(
    city: City, tab: Tab, live_server, shot
):
    page = tab.page
    sign_in(page, live_server.url, "guanli")

    page.click(".topnav >> text=管理后台")
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_contain_text("青岛市城市运行管理服务平台")
    expect(page.locator("#content-main")).to_contain_text("组织单位")
    expect(page.locator("#content-main")).to_contain_text("城市部件")
    shot(page, "admin-index-zh")

    page.click("#content-main >> text=组织单位")
    expect(page.locator("#result_list")).to_contain_text("青岛市城市运行管理服务指挥中心")
    # Open the city centre's branch of the tree: its children load on demand.
    page.locator("#result_list a.treebeard-collapse").first.click()
    expect(page.locator("#result_list")).to_contain_text("市南区城市运行管理服务中心")
    shot(page, "admin-organisation-tree-zh")

    page.goto(f"{live_server.url}/admin/geography/component/")
    wanted = city.component_codes[6]
    page.fill("#searchbar", wanted)
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody")).to_contain_text(wanted)
    expect(page.locator("#result_list tbody")).to_contain_text("破损")
    shot(page, "admin-component-search-zh")

    page.fill("#searchbar", wanted[:15])  # serials 000001 to 000009
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(9)

    page.click(f"#result_list >> text={wanted}")
    expect(page.locator(".leaflet-container")).to_be_visible()
    expect(page.locator(".leaflet-container .leaflet-marker-icon")).to_have_count(1)
    # With no base map, the districts are drawn under the point as a reference layer.
    expect(page.locator(".leaflet-container .leaflet-overlay-pane path")).to_have_count(len(city.districts))
    expect(page.locator(".field-district")).to_contain_text("市南区")
    shot(page, "admin-component-change-zh")
    assert tab.foreign_requests(live_server.url) == []


def test_the_swagger_ui_loads_from_the_server_itself(city: City, tab: Tab, live_server, shot):
    page = tab.page
    sign_in(page, live_server.url, "paiqian")

    page.goto(f"{live_server.url}/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Qingdao")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    shot(page, "api-docs")
    assert any("/api/schema/" in url for url in tab.requests)
    assert tab.foreign_requests(live_server.url) == []
