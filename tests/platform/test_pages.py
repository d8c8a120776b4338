"""The signed-in pages: sign-in in Chinese by default, the language switch, and the home page's scope."""

from __future__ import annotations

import json

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.test import Client
from django.urls import reverse

from geography.models import District, Street
from organisations.models import OrgUnit, Role, UnitType, User
from organisations.services import membership_grant, unit_create, user_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _square(x: float, y: float, size: float = 0.05) -> MultiPolygon:
    return MultiPolygon(Polygon.from_bbox((x, y, x + size, y + size)), srid=4326)


@pytest.fixture
def city() -> dict[str, object]:
    shinan = District.objects.create(code="370202", name="市南区", geom=_square(120.30, 36.04))
    shibei = District.objects.create(code="370203", name="市北区", geom=_square(120.30, 36.10))
    Street.objects.create(code="370202001", name="香港中路街道", district=shinan, geom=_square(120.30, 36.04, 0.02))
    Street.objects.create(code="370203001", name="辽宁路街道", district=shibei, geom=_square(120.30, 36.10, 0.02))
    centre = unit_create(name="市指挥中心", code="C", unit_type=UnitType.CITY_CENTRE)
    shinan_centre = unit_create(
        name="市南区指挥中心", code="C-202", unit_type=UnitType.DISTRICT_CENTRE, parent=centre, district=shinan
    )
    return {"shinan": shinan, "shibei": shibei, "centre": centre, "shinan_centre": shinan_centre}


def _person(username: str, *, role: str | None = None, unit: OrgUnit | None = None, full_name: str = "") -> User:
    user = user_create(username=username, full_name=full_name, password=PASSWORD)
    if role:
        membership_grant(user=user, role=role, unit=unit)
    return user


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _map_features(response) -> list[dict]:
    content = response.content.decode()
    start = content.index('<script id="home-districts" type="application/json">') + len(
        '<script id="home-districts" type="application/json">'
    )
    return json.loads(content[start : content.index("</script>", start)])["features"]


def test_an_anonymous_visitor_of_the_home_page_is_sent_to_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_the_sign_in_page_is_in_chinese_by_default(client):
    response = client.get(reverse("login"))

    content = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in content
    assert "登录" in content
    assert "用户名" in content  # Django's own form labels follow the language too
    assert "Sign in" not in content


def test_the_sign_in_page_is_in_english_after_choosing_english(client):
    switched = client.post(reverse("set_language"), {"language": "en", "next": reverse("login")})
    response = client.get(reverse("login"))

    assert switched.status_code == 302
    assert switched["Location"] == reverse("login")
    content = response.content.decode()
    assert '<html lang="en">' in content
    assert "Sign in" in content
    assert "Username" in content
    assert "登录" not in content


def test_signing_in_with_the_form_lands_on_the_home_page(client, city):
    _person("dispatcher", role=Role.DISPATCHER, unit=city["shinan_centre"], full_name="王派遣")

    response = client.post(reverse("login"), {"username": "dispatcher", "password": PASSWORD}, follow=True)

    assert response.redirect_chain == [(reverse("home"), 302)]
    assert "王派遣" in response.content.decode()


def test_a_wrong_password_is_refused_and_nobody_is_signed_in(client, city):
    _person("dispatcher", role=Role.DISPATCHER, unit=city["shinan_centre"])

    response = client.post(reverse("login"), {"username": "dispatcher", "password": "wrong"})

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_signed_in_person_opening_sign_in_is_sent_home(city):
    client = _signed_in(_person("dispatcher", role=Role.DISPATCHER, unit=city["shinan_centre"]))

    response = client.get(reverse("login"))

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_the_home_page_shows_a_district_dispatcher_their_role_unit_and_only_their_district(city):
    client = _signed_in(_person("dispatcher", role=Role.DISPATCHER, unit=city["shinan_centre"], full_name="王派遣"))

    response = client.get(reverse("home"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "王派遣" in content
    assert "派遣员" in content  # the role, in Chinese
    assert "市南区指挥中心" in content
    features = _map_features(response)
    assert [f["properties"]["name"] for f in features] == ["市南区"]
    assert features[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert "市北区" not in content
    assert reverse("admin:index") not in content  # not staff: no link to the admin


def test_the_home_page_shows_the_city_centre_every_district_and_an_administrator_the_admin(city):
    client = _signed_in(_person("chief", role=Role.ADMINISTRATOR, unit=city["centre"]))

    response = client.get(reverse("home"))

    features = _map_features(response)
    assert sorted(f["properties"]["code"] for f in features) == ["370202", "370203"]
    assert reverse("admin:index") in response.content.decode()


def test_the_home_page_of_a_person_without_roles_says_so_and_draws_no_district(city):
    client = _signed_in(_person("newcomer"))

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert _map_features(response) == []
    assert "尚未" in response.content.decode()


def test_every_page_has_the_language_switch(city):
    client = _signed_in(_person("chief", role=Role.ADMINISTRATOR, unit=city["centre"]))

    for url in (reverse("home"), reverse("admin:index"), reverse("admin:organisations_orgunit_changelist")):
        content = client.get(url).content.decode()
        assert f'action="{reverse("set_language")}"' in content, url
        assert 'name="language"' in content, url

    assert f'action="{reverse("set_language")}"' in Client().get(reverse("login")).content.decode()


def test_the_home_page_takes_a_fixed_number_of_queries_however_many_districts(city, django_assert_max_num_queries):
    for n in range(10):
        District.objects.create(code=f"3702{20 + n}", name=f"区{n}", geom=_square(120.0 + n * 0.06, 35.9))
    client = _signed_in(_person("chief", role=Role.ADMINISTRATOR, unit=city["centre"]))

    with django_assert_max_num_queries(8):
        response = client.get(reverse("home"))

    assert len(_map_features(response)) == 12


def test_the_scope_of_someone_in_two_district_centres_names_both_districts(city):
    shibei_centre = unit_create(
        name="市北区指挥中心",
        code="C-203",
        unit_type=UnitType.DISTRICT_CENTRE,
        parent=city["centre"],
        district=city["shibei"],
    )
    user = _person("both", role=Role.DISPATCHER, unit=city["shinan_centre"])
    membership_grant(user=user, role=Role.DISPATCHER, unit=shibei_centre)

    response = _signed_in(user).get(reverse("home"))

    assert "市南区、市北区" in response.content.decode()
    assert sorted(f["properties"]["code"] for f in _map_features(response)) == ["370202", "370203"]


def test_a_street_inspector_sees_their_street_named_as_their_scope_not_the_whole_district(city):
    street = Street.objects.get(code="370202001")
    workstation = unit_create(
        name="香港中路街道工作站",
        code="C-202-001",
        unit_type=UnitType.STREET_WORKSTATION,
        parent=city["shinan_centre"],
        street=street,
    )
    inspector = _person("walker", role=Role.INSPECTOR, unit=workstation)

    page = _signed_in(inspector).get(reverse("home")).content.decode()

    scope_row = page[page.index("<dd>", page.index("<dt")) :]
    assert scope_row.startswith("<dd>香港中路街道</dd>")
