"""catalogue_load_standard: upserts the standard classes, is idempotent, and never drops a class in use.

The names follow the data files on every load; the case rules are seeded once and never overwritten.
"""

from __future__ import annotations

import pytest

from catalogue.models import ClassKind, MajorClass, MinorClass, ResponsibleKind, Stage, TimeLimit, Urgency
from catalogue.services import LoadResult, catalogue_load_standard
from catalogue.standard import CatalogueDataError, catalogue_rules_read
from geography.models import Component
from workcalendar.units import TimeUnit

from .factories import ComponentFactory

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return list(
        MinorClass.objects.order_by("major__kind", "major__code", "code").values_list(
            "major__kind", "major__code", "major__name", "code", "name", "name_en", "is_active"
        )
    )


def rules_snapshot() -> list[tuple]:
    classes = MinorClass.objects.order_by("pk").values_list(
        "pk",
        "registration_criteria",
        "closure_criteria",
        "default_responsible_kind",
        "self_handle_allowed",
        "duplicate_radius_m",
        "rules_seeded_at",
    )
    limits = TimeLimit.objects.order_by("pk").values_list("pk", "minor_class_id", "urgency", "stage", "amount", "unit")
    return [*classes, *limits]


def minor(full_code: str, kind: str = ClassKind.COMPONENT) -> MinorClass:
    return MinorClass.objects.get(major__kind=kind, major__code=full_code[:2], code=full_code[2:])


# The other kinds, untouched by the component-file edits below: 6 + 100 event and 4 + 34 service classes.
OTHER_KINDS = 144


def test_a_first_load_creates_16_major_and_249_minor_classes():
    result = catalogue_load_standard()

    assert result == LoadResult(created=16 + 249)
    counts = {
        kind: (MajorClass.objects.filter(kind=kind).count(), MinorClass.objects.filter(major__kind=kind).count())
        for kind in ClassKind.values
    }
    assert counts == {"component": (6, 115), "event": (6, 100), "service": (4, 34)}
    assert minor("0101").name == "上水井盖"
    assert minor("0101").major.name == "公用设施"
    assert (minor("0101", ClassKind.EVENT).name, minor("0101", ClassKind.EVENT).major.name) == ("暴露垃圾", "市容环境")


def test_a_first_load_seeds_each_class_with_its_rules_and_fifteen_time_limits():
    catalogue_load_standard()

    leaflets = minor("0201", ClassKind.EVENT)
    assert leaflets.name == "非法小广告"
    assert "小广告" in leaflets.registration_criteria and "予以立案" in leaflets.registration_criteria
    assert leaflets.closure_criteria
    assert leaflets.default_responsible_kind == ResponsibleKind.URBAN_ENFORCEMENT
    assert leaflets.self_handle_allowed is True
    assert leaflets.duplicate_radius_m == 50
    assert leaflets.rules_seeded_at is not None
    assert leaflets.time_limits.count() == 15
    assert TimeLimit.objects.count() == 249 * 15
    # the manhole cover: no self-handling, and missing covers are urgent within 2 calendar hours
    cover = minor("0101")
    assert cover.self_handle_allowed is False
    assert cover.default_responsible_kind == ResponsibleKind.WATER
    urgent = cover.time_limits.get(urgency=Urgency.URGENT, stage=Stage.HANDLE)
    assert (urgent.amount, urgent.unit) == (2, TimeUnit.CALENDAR_HOURS)


def test_a_second_load_changes_nothing():
    catalogue_load_standard()
    before, rules_before = snapshot(), rules_snapshot()

    result = catalogue_load_standard()

    assert result == LoadResult(unchanged=16 + 249)
    assert snapshot() == before
    assert rules_snapshot() == rules_before
    assert MinorClass.objects.count() == 249


def test_a_second_load_of_one_kind_reports_that_kind_only():
    catalogue_load_standard()

    assert catalogue_load_standard(kinds=[ClassKind.COMPONENT]) == LoadResult(unchanged=121)


def test_a_later_load_keeps_the_rules_an_administrator_edited():
    catalogue_load_standard()
    illegal_building = minor("0305", ClassKind.EVENT)
    MinorClass.objects.filter(pk=illegal_building.pk).update(
        registration_criteria="经规划部门认定的违法建设，予以立案。",
        closure_criteria="",
        default_responsible_kind=ResponsibleKind.STREET_OFFICE,
        self_handle_allowed=True,
        duplicate_radius_m=5,
    )
    illegal_building.time_limits.filter(urgency=Urgency.NORMAL, stage=Stage.HANDLE).update(
        amount=20, unit=TimeUnit.WORKING_DAYS
    )
    illegal_building.time_limits.filter(urgency=Urgency.EMERGENCY, stage=Stage.VERIFY).update(amount=3)
    before = rules_snapshot()

    result = catalogue_load_standard()

    assert result == LoadResult(unchanged=16 + 249)
    assert rules_snapshot() == before
    illegal_building.refresh_from_db()
    assert illegal_building.registration_criteria == "经规划部门认定的违法建设，予以立案。"
    assert illegal_building.closure_criteria == ""  # even a cleared field is the administrator's choice
    assert illegal_building.default_responsible_kind == ResponsibleKind.STREET_OFFICE
    assert (illegal_building.self_handle_allowed, illegal_building.duplicate_radius_m) == (True, 5)
    handle = illegal_building.time_limits.get(urgency=Urgency.NORMAL, stage=Stage.HANDLE)
    assert (handle.amount, handle.unit) == (20, TimeUnit.WORKING_DAYS)


def test_a_changed_rules_file_does_not_overwrite_a_seeded_class(edit_rules):
    catalogue_load_standard()
    before = rules_snapshot()
    data_dir = edit_rules(
        "events.csv",
        lambda lines: [
            line.replace("0201,,yes,,4 working_hours", "0201,sanitation,no,,8 working_hours") for line in lines
        ],
    )
    assert catalogue_rules_read(kind=ClassKind.EVENT, data_dir=data_dir)["0201"].self_handle_allowed is False

    result = catalogue_load_standard(data_dir=data_dir)

    assert result == LoadResult(unchanged=16 + 249)
    assert rules_snapshot() == before


def test_an_installation_seeded_with_hour_long_emergency_checks_keeps_them_and_minute_edits_survive(edit_rules):
    # Seeded when the stage file gave emergencies 1 calendar hour to verify (the old data), ...
    old_data = edit_rules(
        "stages.csv", lambda lines: [line.replace("30 calendar_minutes", "1 calendar_hours") for line in lines]
    )
    catalogue_load_standard(data_dir=old_data)
    gas_leak = minor("0403", ClassKind.EVENT)
    # ... then an administrator set a 30-minute dispatch for gas leaks in the admin.
    gas_leak.time_limits.filter(urgency=Urgency.EMERGENCY, stage=Stage.DISPATCH).update(
        amount=30, unit=TimeUnit.CALENDAR_MINUTES
    )
    before = rules_snapshot()

    result = catalogue_load_standard()  # today's files: 30 calendar minutes to verify in an emergency

    assert result == LoadResult(unchanged=16 + 249)
    assert rules_snapshot() == before
    emergency = {row.stage: (row.amount, row.unit) for row in gas_leak.time_limits.filter(urgency=Urgency.EMERGENCY)}
    assert emergency[Stage.VERIFY] == (1, TimeUnit.CALENDAR_HOURS)
    assert emergency[Stage.DISPATCH] == (30, TimeUnit.CALENDAR_MINUTES)


def test_a_fresh_load_seeds_30_minute_emergency_verification():
    catalogue_load_standard()

    verify = minor("0403", ClassKind.EVENT).time_limits.get(urgency=Urgency.EMERGENCY, stage=Stage.VERIFY)
    assert (verify.amount, verify.unit) == (30, TimeUnit.CALENDAR_MINUTES)


def test_a_missing_time_limit_is_added_back_and_the_others_are_left_alone():
    catalogue_load_standard()
    leaflets = minor("0201", ClassKind.EVENT)
    leaflets.time_limits.filter(urgency=Urgency.URGENT, stage=Stage.HANDLE).update(amount=9)
    leaflets.time_limits.filter(urgency=Urgency.NORMAL, stage=Stage.CHECK).delete()

    result = catalogue_load_standard()

    assert result == LoadResult(updated=1, unchanged=16 + 248)
    restored = leaflets.time_limits.get(urgency=Urgency.NORMAL, stage=Stage.CHECK)
    assert (restored.amount, restored.unit) == (2, TimeUnit.WORKING_HOURS)
    assert leaflets.time_limits.get(urgency=Urgency.URGENT, stage=Stage.HANDLE).amount == 9
    assert leaflets.time_limits.count() == 15


def test_a_class_loaded_before_the_rules_existed_gets_them_on_the_next_load():
    catalogue_load_standard()
    # The state of a database loaded before the rules were added: empty rules, no limits, never seeded.
    kiosk = minor("0122")
    MinorClass.objects.filter(pk=kiosk.pk).update(
        registration_criteria="", closure_criteria="", rules_seeded_at=None, duplicate_radius_m=30
    )
    kiosk.time_limits.all().delete()

    result = catalogue_load_standard()

    assert result == LoadResult(updated=1, unchanged=16 + 248)
    kiosk.refresh_from_db()
    assert kiosk.registration_criteria.startswith("电话亭")
    assert kiosk.default_responsible_kind == ResponsibleKind.TELECOM
    assert kiosk.duplicate_radius_m == 10
    assert kiosk.rules_seeded_at is not None
    assert kiosk.time_limits.count() == 15


def test_an_edited_name_in_the_data_updates_that_row_only(edit_components):
    catalogue_load_standard()
    before = {row[0] + row[1] + row[3]: row for row in snapshot()}
    rules_before = rules_snapshot()
    original_id = minor("0101").pk
    data_dir = edit_components(
        lambda lines: [
            "0101,供水井盖,Drinking water manhole cover,standard" if line.startswith("0101,") else line
            for line in lines
        ]
    )

    result = catalogue_load_standard(data_dir=data_dir)

    assert result == LoadResult(updated=1, unchanged=120 + OTHER_KINDS)
    renamed = minor("0101")
    assert (renamed.pk, renamed.name, renamed.name_en) == (original_id, "供水井盖", "Drinking water manhole cover")
    after = {row[0] + row[1] + row[3]: row for row in snapshot()}
    assert {code for code in after if after[code] != before[code]} == {"component0101"}
    assert rules_snapshot() == rules_before


def test_a_class_in_use_that_left_the_data_is_kept_and_deactivated(edit_components):
    catalogue_load_standard()
    charging_pile = minor("0139")
    component = ComponentFactory(minor_class=charging_pile)
    data_dir = edit_components(lambda lines: [line for line in lines if not line.startswith("0139,")])

    result = catalogue_load_standard(data_dir=data_dir)

    assert result == LoadResult(deactivated=1, unchanged=120 + OTHER_KINDS)
    charging_pile.refresh_from_db()
    assert charging_pile.is_active is False
    assert charging_pile.name == "充电桩"
    component.refresh_from_db()
    assert component.minor_class_id == charging_pile.pk
    # and loading the same data again leaves it as it is
    assert charging_pile.time_limits.count() == 15  # its rules stay with it
    assert catalogue_load_standard(data_dir=data_dir) == LoadResult(unchanged=121 + OTHER_KINDS)


def test_an_unused_class_that_left_the_data_is_deleted(edit_components):
    catalogue_load_standard()
    data_dir = edit_components(lambda lines: [line for line in lines if not line.startswith("0143,")])

    result = catalogue_load_standard(data_dir=data_dir)

    assert result == LoadResult(deleted=1, unchanged=120 + OTHER_KINDS)
    assert not MinorClass.objects.filter(major__kind=ClassKind.COMPONENT, major__code="01", code="43").exists()
    assert MinorClass.objects.count() == 248
    assert TimeLimit.objects.count() == 248 * 15


def test_a_major_class_that_left_the_data_stays_while_one_of_its_classes_is_used(edit_components):
    catalogue_load_standard()
    waterside = MajorClass.objects.get(kind=ClassKind.COMPONENT, code="06")
    used = minor("0604")
    ComponentFactory(minor_class=used)
    data_dir = edit_components(lambda lines: [line for line in lines if not line.startswith("06")])

    result = catalogue_load_standard(data_dir=data_dir)

    # 13 minors of 06: 12 deleted, 1 deactivated; the major is kept (unchanged) because 0604 still points at it
    assert result == LoadResult(deleted=12, deactivated=1, unchanged=5 + 102 + 1 + OTHER_KINDS)
    assert MajorClass.objects.filter(pk=waterside.pk).exists()
    assert list(waterside.minors.values_list("code", "is_active")) == [("04", False)]
    assert Component.objects.filter(minor_class=used).count() == 1


def test_a_deactivation_by_an_administrator_survives_a_reload():
    catalogue_load_standard()
    kiosk = minor("0122")
    kiosk.is_active = False
    kiosk.save(update_fields=["is_active"])

    result = catalogue_load_standard()

    assert result == LoadResult(unchanged=16 + 249)
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


@pytest.mark.parametrize("missing", ["services.csv", "rules/services.csv", "rules/stages.csv"])
def test_a_missing_file_of_any_kind_writes_nothing(data_copy, missing):
    (data_copy / missing).unlink()

    with pytest.raises(CatalogueDataError, match="file not found"):
        catalogue_load_standard(data_dir=data_copy)

    assert MajorClass.objects.count() == 0
    assert MinorClass.objects.count() == 0
    assert TimeLimit.objects.count() == 0


def test_a_malformed_rules_file_changes_nothing(edit_rules):
    catalogue_load_standard()
    before, rules_before = snapshot(), rules_snapshot()
    data_dir = edit_rules("events.csv", lambda lines: [*lines, "0199,,,,,,,不存在的小类,"])

    with pytest.raises(CatalogueDataError, match="minor class 0199 is not in events.csv"):
        catalogue_load_standard(data_dir=data_dir)

    assert snapshot() == before
    assert rules_snapshot() == rules_before
