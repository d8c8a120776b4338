"""catalogue_load_standard: upserts the standard classes, is idempotent, and never drops a class in use."""

from __future__ import annotations

import pytest

from catalogue.models import ClassKind, MajorClass, MinorClass
from catalogue.services import LoadResult, catalogue_load_standard
from catalogue.standard import CatalogueDataError
from geography.models import Component

from .factories import ComponentFactory

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return list(
        MinorClass.objects.order_by("major__kind", "major__code", "code").values_list(
            "major__kind", "major__code", "major__name", "code", "name", "name_en", "is_active"
        )
    )


def minor(full_code: str) -> MinorClass:
    return MinorClass.objects.get(major__kind=ClassKind.COMPONENT, major__code=full_code[:2], code=full_code[2:])


def test_a_first_load_creates_6_major_and_115_minor_component_classes():
    result = catalogue_load_standard()

    assert result == LoadResult(created=121)
    assert MajorClass.objects.filter(kind=ClassKind.COMPONENT).count() == 6
    assert MinorClass.objects.filter(major__kind=ClassKind.COMPONENT, is_active=True).count() == 115
    assert minor("0101").name == "上水井盖"
    assert minor("0101").major.name == "公用设施"


def test_a_second_load_changes_nothing():
    catalogue_load_standard()
    before = snapshot()

    result = catalogue_load_standard(kinds=[ClassKind.COMPONENT])

    assert result == LoadResult(unchanged=121)
    assert snapshot() == before
    assert MinorClass.objects.count() == 115


def test_an_edited_name_in_the_data_updates_that_row_only(edit_components):
    catalogue_load_standard()
    before = {row[1] + row[3]: row for row in snapshot()}
    original_id = minor("0101").pk
    data_dir = edit_components(
        lambda lines: [
            "0101,供水井盖,Drinking water manhole cover,standard" if line.startswith("0101,") else line
            for line in lines
        ]
    )

    result = catalogue_load_standard(data_dir=data_dir)

    assert result == LoadResult(updated=1, unchanged=120)
    renamed = minor("0101")
    assert (renamed.pk, renamed.name, renamed.name_en) == (original_id, "供水井盖", "Drinking water manhole cover")
    after = {row[1] + row[3]: row for row in snapshot()}
    assert {code for code in after if after[code] != before[code]} == {"0101"}


def test_a_class_in_use_that_left_the_data_is_kept_and_deactivated(edit_components):
    catalogue_load_standard()
    charging_pile = minor("0139")
    component = ComponentFactory(minor_class=charging_pile)
    data_dir = edit_components(lambda lines: [line for line in lines if not line.startswith("0139,")])

    result = catalogue_load_standard(data_dir=data_dir)

    assert result == LoadResult(deactivated=1, unchanged=120)
    charging_pile.refresh_from_db()
    assert charging_pile.is_active is False
    assert charging_pile.name == "充电桩"
    component.refresh_from_db()
    assert component.minor_class_id == charging_pile.pk
    # and loading the same data again leaves it as it is
    assert catalogue_load_standard(data_dir=data_dir) == LoadResult(unchanged=121)


def test_an_unused_class_that_left_the_data_is_deleted(edit_components):
    catalogue_load_standard()
    data_dir = edit_components(lambda lines: [line for line in lines if not line.startswith("0143,")])

    result = catalogue_load_standard(data_dir=data_dir)

    assert result == LoadResult(deleted=1, unchanged=120)
    assert not MinorClass.objects.filter(major__code="01", code="43").exists()
    assert MinorClass.objects.count() == 114


def test_a_major_class_that_left_the_data_stays_while_one_of_its_classes_is_used(edit_components):
    catalogue_load_standard()
    waterside = MajorClass.objects.get(kind=ClassKind.COMPONENT, code="06")
    used = minor("0604")
    ComponentFactory(minor_class=used)
    data_dir = edit_components(lambda lines: [line for line in lines if not line.startswith("06")])

    result = catalogue_load_standard(data_dir=data_dir)

    # 13 minors of 06: 12 deleted, 1 deactivated; the major is kept (unchanged) because 0604 still points at it
    assert result == LoadResult(deleted=12, deactivated=1, unchanged=5 + 102 + 1)
    assert MajorClass.objects.filter(pk=waterside.pk).exists()
    assert list(waterside.minors.values_list("code", "is_active")) == [("04", False)]
    assert Component.objects.filter(minor_class=used).count() == 1


def test_a_deactivation_by_an_administrator_survives_a_reload():
    catalogue_load_standard()
    kiosk = minor("0122")
    kiosk.is_active = False
    kiosk.save(update_fields=["is_active"])

    result = catalogue_load_standard()

    assert result == LoadResult(unchanged=121)
    kiosk.refresh_from_db()
    assert kiosk.is_active is False


def test_a_malformed_file_changes_nothing(edit_components):
    catalogue_load_standard()
    before = snapshot()
    data_dir = edit_components(
        lambda lines: (
            ["0101,已改名,Renamed,standard" if line.startswith("0101,") else line for line in lines]
            + ["0102,重复,Duplicate,standard"]
        )
    )

    with pytest.raises(CatalogueDataError, match="0102 appears twice"):
        catalogue_load_standard(data_dir=data_dir)

    assert snapshot() == before


def test_it_refuses_a_kind_without_a_data_file_and_writes_nothing():
    with pytest.raises(CatalogueDataError, match="no data file for kind 'service'"):
        catalogue_load_standard(kinds=[ClassKind.COMPONENT, ClassKind.SERVICE])

    assert MajorClass.objects.count() == 0
    assert MinorClass.objects.count() == 0
