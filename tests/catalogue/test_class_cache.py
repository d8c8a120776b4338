"""Intake's remembered class lookups: fast for repeated reports, and an administrator's edit still arrives."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalogue import selectors
from catalogue.models import ClassKind
from tests.catalogue.factories import MajorClassFactory, MinorClassFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(selectors.time, "monotonic", lambda: now[0])
    return now


def test_a_repeated_lookup_is_answered_without_a_query(clock: list[float]) -> None:
    minor = MinorClassFactory(major=MajorClassFactory(kind=ClassKind.EVENT, code="01"), code="01")
    assert selectors.minor_class_by_full_code_cached("0101", kind=ClassKind.EVENT) == minor

    with CaptureQueriesContext(connection) as queries:
        again = selectors.minor_class_by_full_code_cached("0101", kind=ClassKind.EVENT)

    assert again == minor
    assert len(queries) == 0


def test_an_administrators_edit_reaches_intake_once_the_lookup_has_aged(clock: list[float]) -> None:
    minor = MinorClassFactory(major=MajorClassFactory(kind=ClassKind.EVENT, code="01"), code="01")
    assert selectors.minor_class_by_full_code_cached("0101", kind=ClassKind.EVENT).is_active

    minor.is_active = False
    minor.save(update_fields=["is_active"])
    clock[0] += selectors.CLASS_CACHE_SECONDS - 1
    assert selectors.minor_class_by_full_code_cached("0101", kind=ClassKind.EVENT).is_active, "still remembered"
    clock[0] += 2

    assert not selectors.minor_class_by_full_code_cached("0101", kind=ClassKind.EVENT).is_active


def test_a_class_added_after_a_miss_is_found_once_the_miss_has_aged(clock: list[float]) -> None:
    assert selectors.minor_class_by_full_code_cached("0199", kind=ClassKind.EVENT) is None
    MinorClassFactory(major=MajorClassFactory(kind=ClassKind.EVENT, code="01"), code="99")
    clock[0] += selectors.CLASS_CACHE_SECONDS + 1

    assert selectors.minor_class_by_full_code_cached("0199", kind=ClassKind.EVENT).code == "99"
