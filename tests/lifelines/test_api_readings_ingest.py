"""POST /api/v1/lifelines/readings/: device tokens, the bad-batch answer, and what a device may not do."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from lifelines.models import Device
from lifelines.services import device_revoke, device_token_issue
from organisations.models import Role
from tests.factories import person
from tests.lifelines.conftest import INGEST_URL, Station, reading_count, stored

pytestmark = pytest.mark.django_db


def now_iso(minutes_ago: float = 1) -> str:
    return (timezone.now() - timedelta(minutes=minutes_ago)).astimezone(UTC).isoformat()


def post_raw(client: APIClient, body: str) -> Any:
    return client.generic("POST", INGEST_URL, body, content_type="application/json")


def test_a_device_posts_a_batch_and_gets_the_count_back(station: Station, device_client: Callable) -> None:
    items = [{"sensor": "HX1-T1", "ts": now_iso(n), "value": 70 + n} for n in range(1, 4)]

    response = device_client(station.token).post(INGEST_URL, items, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 3, "duplicates": 0, "refused": []}
    assert len(stored(station.supply)) == 3


def test_a_resent_batch_answers_all_duplicates(station: Station, device_client: Callable) -> None:
    items = [{"sensor": "HX1-T1", "ts": now_iso(n), "value": 70} for n in range(1, 4)]
    client = device_client(station.token)
    client.post(INGEST_URL, items, format="json")

    response = client.post(INGEST_URL, items, format="json")

    assert response.json() == {"accepted": 0, "duplicates": 3, "refused": []}
    assert reading_count() == 3


def test_nan_from_a_device_refuses_that_item_only(station: Station, device_client: Callable) -> None:
    """Python's and many devices' JSON writers emit NaN; the item is refused, not the batch."""
    body = (
        f'[{{"sensor": "HX1-T1", "ts": "{now_iso(2)}", "value": NaN}},'
        f' {{"sensor": "HX1-T1", "ts": "{now_iso(1)}", "value": 70.5}},'
        f' {{"sensor": "HX1-T1", "ts": "{now_iso(3)}", "value": "70.5"}}]'
    )

    response = post_raw(device_client(station.token), body)

    assert response.status_code == 200
    assert [(r["index"], r["reason"]) for r in response.json()["refused"]] == [(0, "bad_value"), (2, "bad_value")]
    assert [value for _ts, value in stored(station.supply)] == [70.5]


def test_a_batch_with_bad_items_names_each_one(station: Station, device_client: Callable) -> None:
    items = [
        {"sensor": "HX1-T1", "ts": now_iso(), "value": 70},
        {"sensor": "OTHER-T1", "ts": now_iso(), "value": 70},
        {"sensor": "HX1-T1", "ts": now_iso(-10), "value": 70},
    ]

    response = device_client(station.token).post(INGEST_URL, items, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["sensor"], r["reason"]) for r in body["refused"]] == [
        (1, "OTHER-T1", "other_device"),
        (2, "HX1-T1", "future_ts"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        '{"sensor": "HX1-T1", "ts": "2026-11-26T10:00:00+08:00", "value": 70}',
        '"HX1-T1"',
        "42",
        '[{"sensor": "HX1-T1", "ts": "2026-11-26T10:00:00+08:00", "value": 70}',
        "",
    ],
    ids=["object", "string", "number", "broken-json", "empty"],
)
def test_a_body_that_is_not_a_json_array_is_400_and_nothing_is_stored(
    station: Station, device_client: Callable, body: str
) -> None:
    response = post_raw(device_client(station.token), body)

    assert response.status_code == 400
    assert response.json()["detail"]
    assert reading_count() == 0


def test_more_than_5000_items_are_refused_whole(station: Station, device_client: Callable) -> None:
    items = [{"sensor": "HX1-T1", "ts": now_iso(n / 100), "value": 70} for n in range(5001)]

    response = device_client(station.token).post(INGEST_URL, items, format="json")

    assert response.status_code == 413
    assert "5000" in response.json()["detail"]
    assert reading_count() == 0


def test_5000_items_are_taken(station: Station, device_client: Callable) -> None:
    items = [{"sensor": "HX1-T1", "ts": now_iso(n / 100), "value": 70} for n in range(5000)]

    response = device_client(station.token).post(INGEST_URL, items, format="json")

    assert response.json()["accepted"] == 5000


def test_a_body_over_the_byte_limit_is_refused_before_parsing(station: Station, device_client: Callable) -> None:
    body = json.dumps([{"sensor": "HX1-T1", "ts": now_iso(), "value": 70, "pad": "x" * 1000}] * 2500)

    response = post_raw(device_client(station.token), body)

    assert response.status_code == 413
    assert reading_count() == 0


def test_a_revoked_token_is_401_and_nothing_is_stored(station: Station, device_client: Callable) -> None:
    device_revoke(device=station.device)

    response = device_client(station.token).post(
        INGEST_URL, [{"sensor": "HX1-T1", "ts": now_iso(), "value": 70}], format="json"
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Device"
    assert reading_count() == 0


def test_a_new_token_replaces_the_old_one(station: Station, device_client: Callable) -> None:
    new_token = device_token_issue(device=station.device)
    items = [{"sensor": "HX1-T1", "ts": now_iso(), "value": 70}]

    assert device_client(station.token).post(INGEST_URL, items, format="json").status_code == 401
    assert device_client(new_token).post(INGEST_URL, items, format="json").status_code == 200


def test_only_a_hash_of_the_token_is_stored(station: Station) -> None:
    device = Device.objects.get(pk=station.device.pk)
    secret = station.token.split(".", 1)[1]

    assert device.token_prefix == station.token.split(".", 1)[0]
    assert secret not in device.token_hash
    assert len(device.token_hash) == 64


@pytest.mark.parametrize(
    "header",
    ["Device", "Device nope", "Device abcd.efgh", "Device a b", "Token x"],
    ids=["no-token", "no-dot", "unknown", "two-tokens", "other-scheme"],
)
def test_a_wrong_or_missing_token_is_401(station: Station, header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.post(INGEST_URL, [{"sensor": "HX1-T1", "ts": now_iso(), "value": 70}], format="json")

    assert response.status_code == 401
    assert reading_count() == 0


def test_a_tampered_secret_with_a_real_prefix_is_401(station: Station, device_client: Callable) -> None:
    prefix = station.token.split(".", 1)[0]

    response = device_client(f"{prefix}.not-the-secret").post(
        INGEST_URL, [{"sensor": "HX1-T1", "ts": now_iso(), "value": 70}], format="json"
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    "url",
    ["/api/v1/me/", "/api/v1/lifelines/facilities/", "/api/v1/cases/", "/api/v1/units/", "/api/v1/components/"],
)
def test_a_device_token_opens_no_other_endpoint(station: Station, device_client: Callable, url: str) -> None:
    response = device_client(station.token).get(url)

    assert response.status_code == 401


def test_a_device_token_cannot_read_a_sensors_chart(station: Station, device_client: Callable) -> None:
    response = device_client(station.token).get(f"/api/v1/lifelines/sensors/{station.supply.pk}/readings/")

    assert response.status_code == 401


def test_people_cannot_post_readings(station: Station, client_for: Callable) -> None:
    staff = person(Role.ADMINISTRATOR, station.city.root, username="city-admin")

    response = client_for(staff).post(INGEST_URL, [{"sensor": "HX1-T1", "ts": now_iso(), "value": 70}], format="json")

    assert response.status_code == 401
    assert reading_count() == 0
