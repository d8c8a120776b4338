"""Fixtures for the case tests: the small city with its people, English messages, a private media folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.forms.models import model_to_dict
from django.utils import translation

from cases.models import Case, CaseEvent, CasePhoto, CaseSupportingUnit, Supervision
from tests.cases.factories import CaseWorld, case_world


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """MEDIA_ROOT for this test alone (parallel runs share var/test-media)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    assert Path(default_storage.path("x")).parent == root
    return root


@pytest.fixture
def world(db: Any) -> CaseWorld:
    return case_world()


def snapshot(case: Case) -> dict[str, Any]:
    """Everything about a case as stored: its row, and how many events, photos, units and supervisions it has."""
    fresh = Case.objects.get(pk=case.pk)
    row = model_to_dict(fresh, exclude=["supporting_units"])
    row["location"] = fresh.location.wkt
    row["updated_at"] = fresh.updated_at
    row["event_count"] = fresh.event_count
    row["last_event_hash"] = fresh.last_event_hash
    row["kind"] = fresh.kind
    return {
        "row": row,
        "events": CaseEvent.objects.filter(case=case).count(),
        "photos": CasePhoto.objects.filter(case=case).count(),
        "supporting": sorted(CaseSupportingUnit.objects.filter(case=case).values_list("unit_id", flat=True)),
        "supervisions": Supervision.objects.filter(case=case).count(),
    }


@pytest.fixture
def unchanged() -> Callable[[Case], Callable[[], None]]:
    """`check = unchanged(case)` before a refused call; `check()` after asserts nothing about it changed."""

    def take(case: Case) -> Callable[[], None]:
        before = snapshot(case)

        def check() -> None:
            assert snapshot(case) == before

        return check

    return take
