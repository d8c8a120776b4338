"""The admin a city's administrator works in: every list loads fast, searches and filters work, rules hold."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalogue.models import ClassKind, MajorClass, MinorClass
from geography.admin import ComponentAdmin, EstimatedCountPaginator
from geography.models import Community, Component, ComponentStatus, District, GridCell, Street
from organisations.models import Membership, OrgUnit, Role, UnitType, User
from organisations.services import membership_grant, unit_create, user_create

pytestmark = pytest.mark.django_db

MANY_COMPONENTS = 120  # more than a page (50), spread over classes and districts: an N+1 would show


def _square(x: float, y: float, size: float) -> MultiPolygon:
    return MultiPolygon(Polygon.from_bbox((x, y, x + size, y + size)), srid=4326)


@pytest.fixture
def city() -> dict[str, object]:
    shinan = District.objects.create(code="370202", name="市南区", geom=_square(120.30, 36.04, 0.05))
    shibei = District.objects.create(code="370203", name="市北区", geom=_square(120.30, 36.10, 0.05))
    street = Street.objects.create(
        code="370202001", name="香港中路街道", district=shinan, geom=_square(120.30, 36.04, 0.02)
    )
    community = Community.objects.create(
        code="370202001001", name="浮山所社区", street=street, district=shinan, geom=_square(120.30, 36.04, 0.01)
    )
    cell = GridCell.objects.create(
        code="37020200100101",
        community=community,
        street=street,
        district=shinan,
        geom=_square(120.30, 36.04, 0.001),
        area_m2=10_000,
    )
    public = MajorClass.objects.create(kind=ClassKind.COMPONENT, code="01", name="公用设施")
    traffic = MajorClass.objects.create(kind=ClassKind.COMPONENT, code="02", name="道路交通")
    MajorClass.objects.create(kind=ClassKind.EVENT, code="01", name="市容环境")
    manhole = MinorClass.objects.create(major=public, code="01", name="上水井盖")
    lamp = MinorClass.objects.create(major=traffic, code="05", name="路灯")
    centre = unit_create(name="市指挥中心", code="C", unit_type=UnitType.CITY_CENTRE)
    for n in range(3):
        unit_create(name=f"市直部门{n}", code=f"C-D{n}", unit_type=UnitType.DEPARTMENT, parent=centre)
    district_centre = unit_create(
        name="市南区指挥中心", code="C-202", unit_type=UnitType.DISTRICT_CENTRE, parent=centre, district=shinan
    )
    components = []
    for n in range(MANY_COMPONENTS):
        district, minor = (shinan, manhole) if n % 2 else (shibei, lamp)
        components.append(
            Component(
                code=f"{district.code}{minor.full_code}{n:06d}",
                minor_class=minor,
                district=district,
                location=Point(120.301 + n * 0.0001, 36.041 if district == shinan else 36.101, srid=4326),
                status=ComponentStatus.DAMAGED if n % 5 == 0 else ComponentStatus.NORMAL,
                name=f"部件{n}",
            )
        )
    Component.objects.bulk_create(components)
    return {
        "shinan": shinan,
        "shibei": shibei,
        "street": street,
        "community": community,
        "cell": cell,
        "manhole": manhole,
        "lamp": lamp,
        "public": public,
        "centre": centre,
        "district_centre": district_centre,
    }


@pytest.fixture
def superuser_client() -> Client:
    user = User.objects.create_superuser("root", password="x" * 12)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def city_admin(city) -> User:
    user = user_create(username="admin-city", full_name="李管理", password="x" * 12)
    membership_grant(user=user, role=Role.ADMINISTRATOR, unit=city["centre"])
    for n in range(5):
        person = user_create(username=f"person{n}", full_name=f"人员{n}")
        membership_grant(user=person, role=Role.DISPATCHER, unit=city["district_centre"])
    return user


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _changelist_urls() -> list[str]:
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry
    ]


def test_every_changelist_loads_for_a_superuser_in_a_bounded_number_of_queries(
    city, city_admin, superuser_client, django_assert_max_num_queries
):
    urls = _changelist_urls()
    assert reverse("admin:geography_component_changelist") in urls

    for url in urls:
        with django_assert_max_num_queries(15):
            response = superuser_client.get(url)
        assert response.status_code == 200, url


def test_every_add_form_of_the_city_models_loads(city, superuser_client):
    for model in (OrgUnit, User, Membership, District, Street, Community, GridCell, Component):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        assert superuser_client.get(url).status_code == 200, url


def test_the_change_forms_show_a_map_widget_and_the_derived_nesting(city, superuser_client):
    component = Component.objects.filter(district=city["shinan"]).first()

    district_page = superuser_client.get(reverse("admin:geography_district_change", args=[city["shinan"].pk]))
    cell_page = superuser_client.get(reverse("admin:geography_gridcell_change", args=[city["cell"].pk]))
    component_page = superuser_client.get(reverse("admin:geography_component_change", args=[component.pk]))

    assert "leaflet" in district_page.content.decode()
    assert "id_geom-map" in district_page.content.decode() or "id_geom" in district_page.content.decode()
    cell_html = cell_page.content.decode()
    assert "香港中路街道" in cell_html and "市南区" in cell_html  # street and district, read-only
    assert 'name="street"' not in cell_html
    assert "leaflet" in component_page.content.decode()


def test_the_component_list_stays_at_one_page_of_queries_with_many_components(
    city, superuser_client, django_assert_max_num_queries
):
    url = reverse("admin:geography_component_changelist")

    with django_assert_max_num_queries(12):
        response = superuser_client.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("3702020101000001", ["3702020101000001"]),  # exact code
        ("370202010100000", [f"370202010100000{n}" for n in (1, 3, 5, 7, 9)]),  # prefix
    ],
)
def test_components_are_found_by_exact_code_or_code_prefix(city, superuser_client, term, expected):
    response = superuser_client.get(reverse("admin:geography_component_changelist"), {"q": term})

    assert [c.code for c in response.context["cl"].result_list] == expected


def test_a_code_search_uses_the_code_index_pattern_not_a_case_folding_scan(city, superuser_client):
    with CaptureQueriesContext(connection) as queries:
        superuser_client.get(reverse("admin:geography_component_changelist"), {"q": "3702020101"})

    listing = [q["sql"] for q in queries.captured_queries if 'FROM "geography_component"' in q["sql"]]
    assert listing
    assert all("UPPER(" not in sql for sql in listing)
    assert all("LIKE '3702020101%'" in sql for sql in listing)


def test_components_are_filtered_by_the_major_class_of_their_minor_class(city, superuser_client):
    response = superuser_client.get(
        reverse("admin:geography_component_changelist"), {"major": city["public"].pk, "status": "damaged"}
    )

    results = response.context["cl"].result_list
    assert results
    assert {c.minor_class_id for c in results} == {city["manhole"].pk}
    assert {c.status for c in results} == {ComponentStatus.DAMAGED}
    # Only component major classes are offered (not the event class with the same code).
    filter_html = response.content.decode()
    assert "公用设施" in filter_html and "道路交通" in filter_html and "市容环境" not in filter_html


def test_an_unfiltered_huge_list_takes_the_row_estimate_instead_of_counting(city, monkeypatch):
    monkeypatch.setattr("geography.admin._ESTIMATE_ABOVE_ROWS", 10)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE geography_component")

    with CaptureQueriesContext(connection) as queries:
        count = EstimatedCountPaginator(Component.objects.order_by("code"), 50).count
        filtered = EstimatedCountPaginator(Component.objects.filter(status="damaged").order_by("code"), 50).count

    assert count == MANY_COMPONENTS
    assert filtered == MANY_COMPONENTS // 5
    assert sum("COUNT(" in q["sql"] for q in queries.captured_queries) == 1  # only the filtered one
    assert ComponentAdmin.show_full_result_count is False


def test_the_organisation_tree_lists_the_root_and_opens_its_children(city, superuser_client):
    url = reverse("admin:organisations_orgunit_changelist")

    root_level = superuser_client.get(url)
    children = superuser_client.get(f"{url}children/{city['centre'].pk}/")

    assert [u.name for u in root_level.context["cl"].result_list] == ["市指挥中心"]
    assert children.status_code == 200
    assert "市南区指挥中心" in children.json()["result_html"]


def test_people_are_found_by_username_full_name_or_phone(city_admin, superuser_client):
    user_create(username="zhang", full_name="张三", phone="13800000000")
    url = reverse("admin:organisations_user_changelist")

    for term in ("zhang", "张三", "138000"):
        response = superuser_client.get(url, {"q": term})
        assert [u.username for u in response.context["cl"].result_list] == ["zhang"], term


def test_memberships_are_filtered_by_role_and_unit_type(city_admin, superuser_client):
    url = reverse("admin:organisations_membership_changelist")

    response = superuser_client.get(url, {"role": Role.ADMINISTRATOR, "unit__unit_type": UnitType.CITY_CENTRE})

    assert [m.user.username for m in response.context["cl"].result_list] == ["admin-city"]


def test_a_city_administrator_without_model_permissions_can_work_in_the_admin(city_admin):
    client = _client_for(city_admin)

    for url in _changelist_urls():
        if "/organisations/" in url or "/geography/" in url:
            assert client.get(url).status_code == 200, url


def test_a_city_administrator_cannot_make_anyone_a_superuser(city_admin):
    target = User.objects.get(username="person0")
    client = _client_for(city_admin)
    url = reverse("admin:organisations_user_change", args=[target.pk])
    form = client.get(url).context["adminform"].form

    response = client.post(
        url,
        {
            "username": "person0",
            "full_name": "人员0",
            "phone": "",
            "email": "",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": str(target.memberships.get().pk),
            "memberships-0-user": str(target.pk),
            "memberships-0-role": Role.DISPATCHER,
            "memberships-0-unit": str(target.memberships.get().unit_id),
        },
    )

    assert "is_superuser" not in form.fields
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.is_staff is True
    assert target.is_superuser is False


def test_a_city_administrator_cannot_edit_a_superuser(city_admin):
    root = User.objects.create_superuser("root", password="x" * 12)

    response = _client_for(city_admin).get(reverse("admin:organisations_user_change", args=[root.pk]))

    # View-only: the form has no save button and no editable password link.
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


def test_granting_the_administrator_role_in_the_admin_opens_the_admin_to_that_person(city, city_admin):
    person = User.objects.get(username="person1")
    assert person.is_staff is False
    client = _client_for(city_admin)

    response = client.post(
        reverse("admin:organisations_membership_add"),
        {"user": person.pk, "unit": city["district_centre"].pk, "role": Role.ADMINISTRATOR},
    )

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_staff is True
    assert person.memberships.filter(role=Role.ADMINISTRATOR, unit=city["district_centre"]).exists()


def test_a_component_added_in_the_admin_is_placed_in_its_grid_cell_street_and_district(city, superuser_client):
    response = superuser_client.post(
        reverse("admin:geography_component_add"),
        {
            "code": "3702020101999999",
            "minor_class": city["manhole"].pk,
            "name": "新井盖",
            "status": ComponentStatus.NORMAL,
            "location": Point(120.3005, 36.0405, srid=4326).geojson,
            "photos-TOTAL_FORMS": "0",
            "photos-INITIAL_FORMS": "0",
            "photos-MIN_NUM_FORMS": "0",
            "photos-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    component = Component.objects.get(code="3702020101999999")
    assert (component.district, component.street, component.community, component.grid_cell) == (
        city["shinan"],
        city["street"],
        city["community"],
        city["cell"],
    )


@pytest.mark.parametrize(
    ("code", "where", "message"),
    [
        ("3702030101999999", (120.3005, 36.0405), "370202"),  # code says 市北区, the point is in 市南区
        ("3702020205999999", (120.3005, 36.0405), "0101"),  # code says 路灯, the class is 上水井盖
        ("3702020101999999", (121.5, 37.5), "outside"),  # in the sea
    ],
)
def test_a_component_with_a_code_that_contradicts_its_place_or_class_is_rejected(
    city, superuser_client, code, where, message
):
    before = Component.objects.count()

    response = superuser_client.post(
        reverse("admin:geography_component_add"),
        {
            "code": code,
            "minor_class": city["manhole"].pk,
            "status": ComponentStatus.NORMAL,
            "location": Point(*where, srid=4326).geojson,
            "photos-TOTAL_FORMS": "0",
            "photos-INITIAL_FORMS": "0",
            "photos-MIN_NUM_FORMS": "0",
            "photos-MAX_NUM_FORMS": "1000",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors)
    assert Component.objects.count() == before


def test_a_community_takes_its_district_from_its_street_and_must_extend_its_code(city, superuser_client):
    url = reverse("admin:geography_community_add")
    geom = _square(120.31, 36.04, 0.005).geojson

    wrong = superuser_client.post(
        url, {"code": "370203001002", "name": "错社区", "street": city["street"].pk, "geom": geom}
    )
    right = superuser_client.post(
        url, {"code": "370202001002", "name": "新社区", "street": city["street"].pk, "geom": geom}
    )

    assert wrong.status_code == 200
    assert not Community.objects.filter(name="错社区").exists()
    assert right.status_code == 302
    assert Community.objects.get(code="370202001002").district == city["shinan"]


def test_a_grid_cell_gets_its_area_in_square_metres(city, superuser_client):
    # About 0.001° x 0.001° at 36°N: 111 m x 90 m.
    response = superuser_client.post(
        reverse("admin:geography_gridcell_add"),
        {"code": "37020200100102", "community": city["community"].pk, "geom": _square(120.302, 36.042, 0.001).geojson},
    )

    assert response.status_code == 302
    cell = GridCell.objects.get(code="37020200100102")
    assert 9_000 < cell.area_m2 < 11_000
    assert (cell.street, cell.district) == (city["street"], city["shinan"])


def test_someone_who_is_not_staff_is_sent_to_the_admin_sign_in(city):
    dispatcher = user_create(username="dispatcher", password="x" * 12)
    membership_grant(user=dispatcher, role=Role.DISPATCHER, unit=city["district_centre"])
    client = _client_for(dispatcher)

    for url in (reverse("admin:index"), reverse("admin:geography_component_changelist")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
