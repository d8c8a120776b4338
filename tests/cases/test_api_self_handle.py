"""Self-handling (自行处置) through the API: an inspector of the grid reports and closes a minor case at once
with before and after photos; other roles, other grids, classes that do not allow it, missing or hostile
photos are refused and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from cases.models import Case, CaseEvent, CasePhoto, Status
from tests.cases.factories import CaseWorld, png_upload

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases/self-handle/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def body(world: CaseWorld, **fields: Any) -> dict[str, Any]:
    data = {
        "kind": "event",
        "minor_class": world.litter.full_code,
        "lon": world.point.x,
        "lat": world.point.y,
        "description": "路面散落垃圾，已清理",
        "before_photos": [png_upload("before.png")],
        "after_photos": [png_upload("after.png", (10, 200, 10))],
    }
    data.update(fields)
    return data


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def nothing_written(root: Path) -> bool:
    return (
        Case.objects.count() == 0
        and CaseEvent.objects.count() == 0
        and CasePhoto.objects.count() == 0
        and stored_files(root) == []
    )


def test_an_inspector_self_handles_a_case_closed_at_once(world: CaseWorld, media_root: Path) -> None:
    response = client_for(world.inspector).post(URL, body(world), format="multipart")

    assert response.status_code == 201, response.json()
    case = Case.objects.get(pk=response.json()["id"])
    assert case.status == Status.CLOSED and case.self_handled and case.reporter == world.inspector
    assert response.json()["status"] == Status.CLOSED and response.json()["self_handled"] is True
    assert [e["action"] for e in response.json()["events"]] == ["report", "self_handle"]
    assert sorted(p["phase"] for p in response.json()["photos"]) == ["after", "before"]
    assert len(stored_files(media_root)) == 2


@pytest.mark.parametrize("who", ["clerk", "dispatcher", "handler", "leader"])
def test_a_role_other_than_inspector_is_refused_with_403_and_nothing_is_written(
    world: CaseWorld, media_root: Path, who: str
) -> None:
    response = client_for(getattr(world, who)).post(URL, body(world), format="multipart")

    assert response.status_code == 403
    assert nothing_written(media_root)


def test_an_inspector_of_another_grid_is_refused_with_403_and_nothing_is_written(
    world: CaseWorld, media_root: Path
) -> None:
    response = client_for(world.other_inspector).post(URL, body(world), format="multipart")

    assert response.status_code == 403
    assert nothing_written(media_root)


def test_a_class_inspectors_may_not_self_handle_is_a_400_on_the_class(world: CaseWorld, media_root: Path) -> None:
    response = client_for(world.inspector).post(
        URL, body(world, kind="component", minor_class=world.manhole.full_code), format="multipart"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["minor_class"]
    assert nothing_written(media_root)


def test_missing_after_photos_are_a_400_naming_the_field(world: CaseWorld, media_root: Path) -> None:
    data = body(world)
    del data["after_photos"]

    response = client_for(world.inspector).post(URL, data, format="multipart")

    assert response.status_code == 400
    assert list(response.json()) == ["after_photos"]
    assert nothing_written(media_root)


@pytest.mark.parametrize("field", ["before_photos", "after_photos"])
def test_a_hostile_photo_is_a_400_naming_its_field_and_nothing_is_written(
    world: CaseWorld, media_root: Path, field: str
) -> None:
    hostile = SimpleUploadedFile("evil.jpg", b"<?php system($_GET['c']); ?>", content_type="image/jpeg")

    response = client_for(world.inspector).post(
        URL, body(world, **{field: [png_upload("ok.png", (1, 2, 3)), hostile]}), format="multipart"
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert nothing_written(media_root)


def test_json_is_refused_as_an_unsupported_media_type(world: CaseWorld) -> None:
    data = {k: v for k, v in body(world).items() if not k.endswith("photos")}

    response = client_for(world.inspector).post(URL, data, format="json")

    assert response.status_code == 415
    assert Case.objects.count() == 0
