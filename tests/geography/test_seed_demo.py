"""seed_demo builds a nested, coded, deterministic demo city once, and a second run adds nothing."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.db import connection

from catalogue.models import MinorClass
from geography import demo
from geography.coords import wgs84_to_gcj02
from geography.models import Community, Component, ComponentClusterTotal, District, GridCell, Street
from geography.selectors import locate
from geography.tiles import COARSEST_LEVEL, FINEST_LEVEL
from lifelines.models import Device, Facility, Sensor
from organisations.demo import CITY_CENTRE_CODE, DEMO_LOGINS, DEPARTMENTS, FIELD_UNITS_TOTAL, SUPERUSER, demo_password
from organisations.models import Membership, OrgUnit, Role, UnitType, User

pytestmark = pytest.mark.django_db

# A small core (about 600 cells) and a few components keep this module to seconds; the streets and
# communities are the full city's either way. The case history has its own tests (tests/cases/test_demo_history.py).
SMALL = ["--core-scale", "0.1", "--components", "2000", "--cases", "0"]
SEEDED_TABLES = [
    "geography_componentcluster",
    "geography_componentclustertotal",
    "geography_component",
    "geography_gridcell",
    "organisations_membership",
    "organisations_user",
    "organisations_orgunit",
    "geography_community",
    "geography_street",
    "geography_district",
]


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module", autouse=True)
def seeded(django_db_setup, django_db_blocker) -> Iterator[str]:
    """Seed the test database once for this module (committed), and remove it all afterwards."""
    with django_db_blocker.unblock():
        catalogue_was_empty = not MinorClass.objects.exists()
        output = seed(*SMALL)
        yield output
        tables = SEEDED_TABLES + (["catalogue_minorclass", "catalogue_majorclass"] if catalogue_was_empty else [])
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def _scalar(sql: str, params: list | None = None) -> object:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _counts() -> dict[str, int]:
    models = [District, Street, Community, GridCell, OrgUnit, User, Membership, Component, MinorClass]
    return {m.__name__: m.objects.count() for m in models}


def test_the_districts_are_the_ten_real_ones_in_wgs84_from_the_fixture() -> None:
    names = dict(District.objects.values_list("code", "name"))
    fixture = json.loads(demo.FIXTURE.read_text(encoding="utf-8"))
    shinan = next(f for f in fixture["features"] if f["properties"]["adcode"] == 370202)

    assert len(names) == 10
    assert names["370202"] == "市南区" and names["370285"] == "莱西市"
    # The fixture was converted from GCJ-02: moving its centre back gives the source's GCJ-02 centre.
    assert wgs84_to_gcj02(*shinan["properties"]["center"]) == pytest.approx((120.395966, 36.070892), abs=2e-6)
    assert _scalar("SELECT count(*) FROM geography_district WHERE NOT ST_IsValid(geom)") == 0
    overlaps = """
        SELECT count(*) FROM geography_district a JOIN geography_district b
        ON a.id < b.id AND ST_Overlaps(a.geom, b.geom)
    """
    assert _scalar(overlaps) == 0


def test_every_layer_nests_in_the_one_above_with_prefix_consistent_codes() -> None:
    # Nested up to floating-point noise: less than 0.01 m² of a child lies outside its parent.
    outside = """
        SELECT count(*) FROM {child} c JOIN {parent} p ON p.id = c.{fk}
        WHERE NOT ST_Covers(p.geom, c.geom) AND ST_Area(ST_Difference(c.geom, p.geom)::geography) > 0.01
    """
    assert _scalar(outside.format(child="geography_street", parent="geography_district", fk="district_id")) == 0
    assert _scalar(outside.format(child="geography_community", parent="geography_street", fk="street_id")) == 0
    assert _scalar(outside.format(child="geography_gridcell", parent="geography_community", fk="community_id")) == 0
    mismatched_codes = """
        SELECT
          (SELECT count(*) FROM geography_street s JOIN geography_district d ON d.id = s.district_id
            WHERE s.code !~ ('^' || d.code || '[0-9]{3}$'))
        + (SELECT count(*) FROM geography_community m JOIN geography_street s ON s.id = m.street_id
            WHERE m.code !~ ('^' || s.code || '[0-9]{3}$') OR m.district_id <> s.district_id)
        + (SELECT count(*) FROM geography_gridcell c JOIN geography_community m ON m.id = c.community_id
            WHERE c.code !~ ('^' || m.code || '(0[1-9]|[1-7][0-9]|8[01])$')
               OR c.street_id <> m.street_id OR c.district_id <> m.district_id)
    """
    assert _scalar(mismatched_codes) == 0


def test_the_city_has_about_the_reference_number_of_streets_and_communities_in_every_district() -> None:
    streets = Street.objects.count()

    assert 120 <= streets <= 160  # the reference city has 141 street workstations
    assert Community.objects.count() > 10_000
    for district in District.objects.all():
        assert Street.objects.filter(district=district).exists(), district.name
    assert not Street.objects.exclude(name__regex=r"(街道|镇)$").exists()
    assert not Community.objects.exclude(name__regex=r"(社区|村)$").exists()


def test_grid_cells_are_about_ten_thousand_square_metres_and_a_point_in_one_locates_to_it() -> None:
    cells = GridCell.objects.order_by("code")

    assert cells.count() > 100
    assert not cells.filter(area_m2__gt=10_100).exists()
    assert not cells.filter(area_m2__lt=demo.MIN_CELL_M2).exists()
    cell = cells[len(cells) // 2]
    inside = cell.geom.point_on_surface
    where = locate(Point(inside.x, inside.y, srid=4326))
    assert (where.grid_cell_id, where.community_id, where.street_id, where.district_id) == (
        cell.pk,
        cell.community_id,
        cell.street_id,
        cell.district_id,
    )


def test_the_organisation_tree_has_the_reference_city_counts() -> None:
    by_type = {t: OrgUnit.objects.filter(unit_type=t).count() for t in UnitType.values}
    root = OrgUnit.objects.get(code=CITY_CENTRE_CODE)

    assert root.is_root() and root.name == "青岛市城市运行管理服务中心"
    assert by_type[UnitType.CITY_CENTRE] == 1
    assert by_type[UnitType.DEPARTMENT] + by_type[UnitType.COMPANY] == len(DEPARTMENTS) == 53
    assert by_type[UnitType.DISTRICT_CENTRE] == 10
    assert by_type[UnitType.STREET_WORKSTATION] == Street.objects.count()
    assert by_type[UnitType.FIELD_UNIT] == FIELD_UNITS_TOTAL == 612
    with_cells = Community.objects.filter(pk__in=GridCell.objects.values("community_id")).count()
    assert by_type[UnitType.GRASSROOTS] == with_cells
    assert OrgUnit.objects.find_problems() == ([], [], [], [], [])  # treebeard's paths and child counts are right
    assert {u.unit_type for u in OrgUnit.objects.get_children(root)} == {
        UnitType.DEPARTMENT,
        UnitType.COMPANY,
        UnitType.DISTRICT_CENTRE,
    }
    workstation = OrgUnit.objects.get(code="370202001")
    assert OrgUnit.objects.get_parent(workstation).code == "370202"
    assert workstation.street.code == "370202001"


def test_there_is_one_demo_user_per_role_and_each_can_log_in(client) -> None:
    assert sorted(login.role for login in DEMO_LOGINS) == sorted(Role.values)
    for login in DEMO_LOGINS:
        user = User.objects.get(username=login.username)
        held = list(user.memberships.values_list("role", "unit__code"))
        assert held == [(login.role, login.unit_code)], login.username
        assert client.login(username=login.username, password=login.password), login.username
        client.logout()
    inspector_unit = OrgUnit.objects.get(code=DEMO_LOGINS[2].unit_code)
    assert inspector_unit.unit_type == UnitType.STREET_WORKSTATION and inspector_unit.district.name == "市南区"
    handler_unit = Membership.objects.get(user__username="handler").unit
    assert handler_unit.unit_type == UnitType.FIELD_UNIT
    assert OrgUnit.objects.get_parent(handler_unit).unit_type == UnitType.DEPARTMENT


def test_the_administrator_and_the_superuser_can_use_the_django_admin(client) -> None:
    assert User.objects.get(username=SUPERUSER).is_superuser
    assert client.login(username=SUPERUSER, password=demo_password(SUPERUSER))
    assert client.get("/admin/").status_code == 200
    client.logout()
    administrator = User.objects.get(username="administrator")
    assert administrator.is_staff and not administrator.is_superuser
    assert client.login(username="administrator", password=demo_password("administrator"))
    assert client.get("/admin/").status_code == 200


def test_components_lie_in_their_grid_cells_with_16_digit_codes_and_a_realistic_mix() -> None:
    assert Component.objects.count() == 2000
    misplaced = """
        SELECT count(*) FROM geography_component p JOIN geography_gridcell c ON c.id = p.grid_cell_id
        WHERE NOT ST_Covers(c.geom, p.location)
           OR p.community_id <> c.community_id OR p.street_id <> c.street_id OR p.district_id <> c.district_id
    """
    assert _scalar(misplaced) == 0
    assert not Component.objects.filter(grid_cell__isnull=True).exists()
    bad_codes = """
        SELECT count(*) FROM geography_component p
        JOIN geography_district d ON d.id = p.district_id
        JOIN catalogue_minorclass mn ON mn.id = p.minor_class_id
        JOIN catalogue_majorclass mj ON mj.id = mn.major_id
        WHERE p.code !~ ('^' || d.code || mj.code || mn.code || '[0-9]{6}$') OR right(p.code, 6) = '000000'
    """
    assert _scalar(bad_codes) == 0
    assert Component.objects.filter(status="normal").count() > 0.9 * 2000
    assert Component.objects.values("minor_class").distinct().count() > 30
    assert not Component.objects.filter(owner_unit__isnull=True).exists()


def test_frequent_classes_outnumber_rare_ones() -> None:
    def count(full_code: str) -> int:
        return Component.objects.filter(minor_class__major__code=full_code[:2], minor_class__code=full_code[2:]).count()

    assert count("0402") > 10 * max(1, count("0406"))  # street trees vs sculptures
    assert count("0118") > 10 * max(1, count("0122"))  # street lights vs telephone booths


def test_a_second_run_creates_nothing_and_says_each_stage_was_skipped() -> None:
    before = _counts()

    output = seed(*SMALL)

    assert _counts() == before
    assert "created" not in output
    assert output.count("skipped") == 11  # every stage, the lifeline facilities included


def test_a_rebuild_from_scratch_gives_the_same_codes_names_and_shapes() -> None:
    layers = {
        "streets": "SELECT code || name || md5(ST_AsEWKB(geom)) FROM geography_street",
        "communities": "SELECT code || name || md5(ST_AsEWKB(geom)) FROM geography_community",
        "cells": "SELECT code || md5(ST_AsEWKB(geom)) FROM geography_gridcell",
        "components": "SELECT code || status || md5(ST_AsEWKB(location)) FROM geography_component",
        "units": "SELECT code || name || depth FROM organisations_orgunit",
        "facilities": "SELECT code || name || md5(ST_AsEWKB(location)) FROM lifelines_facility",
        "sensors": "SELECT code || expected_interval_s FROM lifelines_sensor",
    }

    def fingerprints() -> dict[str, object]:
        return {k: _scalar(f"SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ({q}) parts(x)") for k, q in layers.items()}

    first = fingerprints()
    # Everything but the districts and the people goes; rolled back with the test.
    Sensor.objects.all().delete()
    Device.objects.all().delete()
    Facility.objects.all().delete()
    Component.objects.all().delete()
    Membership.objects.all().delete()
    GridCell.objects.all().delete()
    OrgUnit.objects.all().delete()
    Community.objects.all().delete()
    Street.objects.all().delete()

    seed(*SMALL)

    assert fingerprints() == first


def test_the_fixture_is_small_and_read_from_the_project_not_from_shared() -> None:
    assert demo.FIXTURE.is_relative_to(demo.Path(demo.__file__).resolve().parent)
    assert demo.FIXTURE.stat().st_size < 100_000
    source = demo.Path(demo.__file__).read_text(encoding="utf-8")
    assert not re.search(r"shared[/\\]data", source)


def test_demo_logins_prints_each_role_with_its_password_and_unit() -> None:
    out = io.StringIO()
    call_command("demo_logins", stdout=out)
    lines = out.getvalue().splitlines()

    for login in DEMO_LOGINS:
        line = next(x for x in lines if x.startswith(f"{login.username} "))
        assert login.password in line
        if login.unit_code:
            assert OrgUnit.objects.get(code=login.unit_code).name in line
    assert any(x.startswith(f"{SUPERUSER} ") and demo_password(SUPERUSER) in x for x in lines)


def test_demo_logins_says_to_seed_first_when_there_are_none() -> None:
    Membership.objects.all().delete()
    User.objects.all().delete()  # rolled back with the test
    out = io.StringIO()

    call_command("demo_logins", stdout=out)

    assert "seed_demo" in out.getvalue()
    assert not any(login.password in out.getvalue() for login in DEMO_LOGINS)


def test_the_components_map_layer_counts_every_component() -> None:
    for level in (COARSEST_LEVEL, FINEST_LEVEL):
        counted = _scalar("SELECT sum(count) FROM geography_componentclustertotal WHERE level = %s", [level])
        assert counted == Component.objects.count() == 2000
    assert ComponentClusterTotal.objects.filter(level=FINEST_LEVEL).count() > 100
