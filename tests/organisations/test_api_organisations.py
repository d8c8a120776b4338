"""/api/v1/me/, /units/ and /people/, and how the API authenticates: sessions, device tokens, nobody."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from organisations.models import Membership, Role, UnitType, User
from tests.factories import SmallCity, person
from tests.organisations.conftest import listed_ids

API_ENDPOINTS = [
    "/api/v1/",
    "/api/v1/me/",
    "/api/v1/units/",
    "/api/v1/people/",
    "/api/v1/districts/",
    "/api/v1/streets/",
    "/api/v1/communities/",
    "/api/v1/grid-cells/",
    "/api/v1/components/",
    "/api/v1/locate/?lon=120.3&lat=36.0",
]


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_me_shows_the_user_with_every_role_and_unit(city: SmallCity, client_for: Callable[[User], APIClient]) -> None:
    viewer = person(Role.INSPECTOR, city.a.workstations[0], full_name="张伟")
    Membership.objects.create(user=viewer, role=Role.CITIZEN)

    body = client_for(viewer).get("/api/v1/me/").json()

    assert body["username"] == viewer.username
    assert body["full_name"] == "张伟"
    assert body["sees_whole_city"] is False
    roles = {(r["role"], r["unit"]["code"] if r["unit"] else None) for r in body["roles"]}
    assert roles == {("inspector", city.a.workstations[0].code), ("citizen", None)}
    assert "password" not in body


def test_units_list_their_parent_and_type_in_tree_order(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    body = client_for(person(Role.LEADER, city.a.centre)).get("/api/v1/units/").json()

    assert [u["code"] for u in body["results"]] == [city.a.centre.code, *(w.code for w in city.a.workstations)]
    centre, first_workstation = body["results"][:2]
    assert centre["parent"] == city.root.pk
    assert centre["unit_type"] == UnitType.DISTRICT_CENTRE
    assert first_workstation["parent"] == city.a.centre.pk
    assert first_workstation["street"] == city.a.streets[0].pk


def test_units_filter_by_type(city: SmallCity, client_for: Callable[[User], APIClient]) -> None:
    client = client_for(person(Role.LEADER, city.root))

    listing = client.get("/api/v1/units/", {"unit_type": UnitType.STREET_WORKSTATION})

    assert listed_ids(listing) == {w.pk for d in city.districts for w in d.workstations}


def test_people_show_only_the_roles_held_in_visible_units_and_never_a_password(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    viewer = person(Role.DISPATCHER, city.a.centre)
    commuter = person(Role.INSPECTOR, city.a.workstations[0])
    Membership.objects.create(user=commuter, role=Role.INSPECTOR, unit=city.b.workstations[0])

    body = client_for(viewer).get(f"/api/v1/people/{commuter.pk}/").json()

    assert [r["unit"]["id"] for r in body["roles"]] == [city.a.workstations[0].pk]
    assert not {"password", "is_superuser", "auth_token"} & body.keys()


def test_people_filters_match_only_roles_in_visible_units(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    viewer = person(Role.DISPATCHER, city.a.centre)
    commuter = person(Role.INSPECTOR, city.a.workstations[0])
    Membership.objects.create(user=commuter, role=Role.LEADER, unit=city.b.centre)
    client = client_for(viewer)

    assert commuter.pk in listed_ids(client.get("/api/v1/people/", {"role": "inspector"}))
    assert commuter.pk not in listed_ids(client.get("/api/v1/people/", {"role": "leader"}))
    assert listed_ids(client.get("/api/v1/people/", {"unit": city.b.centre.pk})) == set()
    assert listed_ids(client.get("/api/v1/people/", {"unit": city.a.workstations[0].pk})) == {commuter.pk}


def test_a_device_token_authenticates_but_sees_no_internal_record(city: SmallCity) -> None:
    device = person(Role.DEVICE, city.a.centre, username="sensor-0001")
    client = token_client(Token.objects.create(user=device).key)

    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["roles"][0]["role"] == "device"
    for url in ["/api/v1/components/", "/api/v1/grid-cells/", "/api/v1/units/", "/api/v1/people/"]:
        listing = client.get(url)
        assert listing.status_code == 200
        assert listing.json()["count"] == 0
    assert client.get(f"/api/v1/components/{city.a.components[0].pk}/").status_code == 404


def test_a_staff_token_sees_what_the_staff_member_sees(city: SmallCity) -> None:
    inspector = person(Role.INSPECTOR, city.a.workstations[0])
    client = token_client(Token.objects.create(user=inspector).key)

    assert listed_ids(client.get("/api/v1/grid-cells/")) == {city.a.cells[0].pk}


@pytest.mark.parametrize("url", API_ENDPOINTS)
def test_a_bad_token_is_refused_with_401(city: SmallCity, url: str) -> None:
    device = person(Role.DEVICE, city.a.centre)
    Token.objects.create(user=device)

    response = token_client("0" * 40).get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_of_a_deactivated_device_is_refused(city: SmallCity) -> None:
    device = person(Role.DEVICE, city.a.centre)
    key = Token.objects.create(user=device).key
    device.is_active = False
    device.save(update_fields=["is_active"])

    assert token_client(key).get("/api/v1/me/").status_code == 401


def test_a_revoked_token_is_refused_at_once_and_a_good_one_carries_its_user(city: SmallCity) -> None:
    device = person(Role.DEVICE, city.a.centre, username="camera-0007", full_name="路口摄像头")
    token = Token.objects.create(user=device)
    client = token_client(token.key)

    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "camera-0007"
    token.delete()
    refused = client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Invalid token."
    assert client.get("/api/v1/me/").json()["detail"] == "认证令牌无效。"  # in Chinese by default


@pytest.mark.parametrize("url", API_ENDPOINTS)
def test_anonymous_requests_get_401(db: Any, url: str) -> None:
    assert APIClient().get(url).status_code == 401


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_the_schema_and_docs_are_public(db: Any, url: str) -> None:
    assert APIClient().get(url).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_api_is_read_only_for_now(city: SmallCity, client_for: Callable[[User], APIClient], method: str) -> None:
    client = client_for(person(Role.ADMINISTRATOR, city.root))
    before = list(Membership.objects.values()), list(User.objects.values())

    response = getattr(client, method)(f"/api/v1/units/{city.a.centre.pk}/", {"name": "x"}, format="json")

    assert response.status_code == 405
    assert (list(Membership.objects.values()), list(User.objects.values())) == before
    assert client.get(f"/api/v1/units/{city.a.centre.pk}/").json()["name"] == city.a.centre.name
