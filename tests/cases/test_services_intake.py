"""Intake: every source through one function, located, linked to its component, limits copied, duplicates flagged."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from cases import services
from cases.clock import clock_at
from cases.models import Case, CaseEvent, CasePhoto, Source, Status
from catalogue.models import TimeLimit
from organisations.models import Role
from tests.cases.factories import T0, CaseWorld, case_in, event_class, png_upload, reported
from tests.factories import ComponentFactory, person


def _nothing_written() -> None:
    assert (Case.objects.count(), CaseEvent.objects.count(), CasePhoto.objects.count()) == (0, 0, 0)


@pytest.mark.parametrize(
    ("source", "status"),
    [
        (Source.INSPECTOR, Status.REPORTED),
        (Source.CITIZEN, Status.VERIFYING),
        (Source.HOTLINE, Status.VERIFYING),
        (Source.VIDEO_AI, Status.VERIFYING),
        (Source.SENSOR_ALARM, Status.REPORTED),
        (Source.LEADER_INSTRUCTION, Status.REPORTED),
    ],
)
def test_each_source_goes_to_verification_or_straight_to_the_register_queue(
    world: CaseWorld, source: str, status: str
) -> None:
    case = reported(world, source=source)

    assert case.status == status
    assert (case.district, case.street) == (world.city.a.district, world.city.a.streets[0])
    assert (case.community, case.grid_cell) == (world.city.a.communities[0], world.city.a.cells[0])
    assert re.fullmatch(r"370202-20261126-\d{6}", case.number)
    assert case.kind == "component"
    event = case.events.get()
    assert (event.seq, event.action, event.from_status, event.to_status) == (1, "report", "", status)
    assert event.prev_hash == "" and event.hash == case.last_event_hash


def test_the_first_stage_deadline_depends_on_whether_the_report_needs_verifying(world: CaseWorld) -> None:
    citizen = reported(world, source=Source.CITIZEN)
    inspector = reported(world, source=Source.INSPECTOR)

    assert (citizen.verify_due_at, citizen.register_due_at) == (T0 + dt.timedelta(hours=1), None)
    assert (inspector.verify_due_at, inspector.register_due_at) == (None, T0 + dt.timedelta(hours=2))


def test_a_video_detection_keeps_its_camera_and_confidence(world: CaseWorld) -> None:
    case = reported(world, source=Source.VIDEO_AI, camera_id="CAM-0042", confidence=0.83)
    assert (case.camera_id, case.confidence, case.reporter) == ("CAM-0042", 0.83, None)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"source": Source.VIDEO_AI, "camera_id": "CAM-1", "confidence": 1.2}, "confidence"),
        ({"source": Source.VIDEO_AI, "camera_id": "CAM-1", "confidence": None}, "confidence"),
        ({"source": Source.VIDEO_AI, "camera_id": "", "confidence": 0.5}, "camera_id"),
        ({"source": Source.SENSOR_ALARM, "alarm_ref": ""}, "alarm_ref"),
        ({"source": "fax"}, "source"),
        ({"urgency": "whenever"}, "urgency"),
        ({"description": "  "}, "description"),
    ],
)
def test_it_refuses_a_report_with_bad_fields_and_writes_nothing(
    world: CaseWorld, fields: dict[str, Any], field: str
) -> None:
    defaults = {"source": Source.CITIZEN}
    with pytest.raises(ValidationError) as refused:
        reported(world, **{**defaults, **fields})
    assert field in refused.value.message_dict
    _nothing_written()


def test_it_refuses_a_location_outside_the_city(world: CaseWorld) -> None:
    with pytest.raises(ValidationError) as refused:
        reported(world, location=world.outside_city)
    assert refused.value.message_dict["location"] == ["The location lies outside the city."]
    _nothing_written()


def test_it_refuses_a_class_no_longer_in_use(world: CaseWorld) -> None:
    world.manhole.is_active = False
    world.manhole.save(update_fields=["is_active"])
    with pytest.raises(ValidationError):
        reported(world)
    _nothing_written()


def test_an_inspector_reports_only_where_their_unit_covers(world: CaseWorld) -> None:
    with pytest.raises(PermissionDenied):
        reported(world, reporter=world.other_inspector)
    _nothing_written()


@pytest.mark.parametrize("source", [Source.INSPECTOR, Source.LEADER_INSTRUCTION])
def test_an_inspector_report_or_instruction_needs_a_signed_in_reporter(world: CaseWorld, source: str) -> None:
    with pytest.raises(PermissionDenied):
        reported(world, source=source, reporter=None)
    _nothing_written()


def test_a_signed_in_citizen_is_kept_as_the_reporter_with_their_name(world: CaseWorld) -> None:
    citizen = person(Role.CITIZEN, None, full_name="张三", phone="13900000000")
    case = reported(world, source=Source.CITIZEN, reporter=citizen)
    assert (case.reporter, case.reporter_name, case.reporter_phone) == (citizen, "张三", "13900000000")
    assert case.events.get().actor_role == "citizen"


def test_a_rejected_photo_refuses_the_whole_report(world: CaseWorld, media_root: Any) -> None:
    bogus = SimpleUploadedFile("photo.jpg", b"this is not an image", content_type="image/jpeg")
    with pytest.raises(ValidationError):
        reported(world, photos=[png_upload(), bogus])
    _nothing_written()
    assert [p for p in media_root.rglob("*") if p.is_file()] == []


def test_photos_are_kept_with_their_hash_in_the_report_event(world: CaseWorld) -> None:
    case = reported(world, photos=[png_upload()])
    photo = case.photos.get()
    assert photo.phase == "evidence" and photo.file.name.startswith(f"cases/{case.number}/")
    assert case.events.get().data["photos"] == [{"phase": "evidence", "sha256": photo.sha256}]


# --- components


def test_a_report_names_its_component_by_code(world: CaseWorld) -> None:
    component = world.city.a.components[0]
    case = reported(world, component_code=component.code)
    assert case.component == component


def test_a_component_code_of_another_class_or_unknown_is_refused(world: CaseWorld) -> None:
    litter_component = ComponentFactory(grid_cell=world.city.a.cells[0], minor_class=event_class("02"))
    with pytest.raises(ValidationError):
        reported(world, component_code=litter_component.code)
    with pytest.raises(ValidationError):
        reported(world, component_code="9999999999999999")
    _nothing_written()


def test_a_report_is_linked_to_the_nearest_component_of_its_class_within_a_few_metres(world: CaseWorld) -> None:
    component = world.city.a.components[0]
    three_metres_away = Point(component.location.x + 3 / 90_000, component.location.y, srid=4326)
    twenty_metres_away = Point(component.location.x + 20 / 90_000, component.location.y, srid=4326)

    assert reported(world, location=three_metres_away).component == component
    assert reported(world, location=twenty_metres_away).component is None


# --- time limits


def test_limits_are_copied_at_intake_so_catalogue_edits_apply_to_new_cases_only(world: CaseWorld) -> None:
    before = reported(world)
    TimeLimit.objects.filter(minor_class=world.manhole, stage="register").update(amount=48)
    after = reported(world, at=T0 + dt.timedelta(minutes=5))

    before.refresh_from_db()
    assert before.time_limits["register"] == {"amount": 2, "unit": "calendar_hours"}
    assert before.register_due_at == T0 + dt.timedelta(hours=2)
    assert after.time_limits["register"] == {"amount": 48, "unit": "calendar_hours"}


def test_the_clerk_may_correct_the_class_at_registration_and_the_limits_follow(world: CaseWorld) -> None:
    case = reported(world)
    litter = world.litter
    TimeLimit.objects.filter(minor_class=litter, stage="dispatch").update(amount=7)
    with clock_at(T0):
        services.case_register(case=case, actor=world.clerk, minor_class=litter, urgency="urgent")
    case.refresh_from_db()
    assert (case.minor_class, case.kind, case.urgency) == (litter, "event", "urgent")
    assert case.dispatch_due_at == T0 + dt.timedelta(hours=7)


# --- duplicates


def test_an_open_case_of_the_same_class_nearby_is_flagged_as_the_likely_master(world: CaseWorld) -> None:
    master = reported(world)
    duplicate = reported(world, location=world.near(20))
    assert duplicate.duplicate_candidate == master
    assert duplicate.events.get().data["duplicate_candidate"] == master.number


def test_no_duplicate_outside_the_radius_for_another_class_or_for_a_closed_case(world: CaseWorld) -> None:
    master = reported(world)
    assert reported(world, location=world.near(45)).duplicate_candidate is None
    assert reported(world, minor_class=world.litter, source=Source.CITIZEN).duplicate_candidate is None
    services.case_reject(case=master, actor=world.clerk, reason="不属实")
    assert reported(world, location=world.near(5)).duplicate_candidate is None  # near(45) is 40 m away


def test_a_radius_of_zero_turns_the_duplicate_check_off(world: CaseWorld) -> None:
    world.manhole.duplicate_radius_m = 0
    world.manhole.save(update_fields=["duplicate_radius_m"])
    reported(world)
    assert reported(world).duplicate_candidate is None


def test_the_nearest_open_case_is_the_candidate(world: CaseWorld) -> None:
    far = reported(world, location=world.near(25))
    near = reported(world, location=world.near(5))
    assert reported(world).duplicate_candidate == near
    assert far != near


# --- merge


def test_merge_closes_the_duplicate_and_the_master_keeps_the_evidence_of_both(world: CaseWorld) -> None:
    master = reported(world, photos=[png_upload(colour=(1, 2, 3))])
    duplicate = reported(world, source=Source.CITIZEN, photos=[png_upload(colour=(9, 9, 9))])
    assert duplicate.duplicate_candidate == master

    services.case_merge(case=duplicate, master=master, actor=world.clerk, reason="同一井盖")

    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.duplicate_of, duplicate.closed_at is not None) == (Status.MERGED, master, True)
    original = duplicate.photos.get()
    copies = master.photos.filter(copied_from=original)
    assert copies.count() == 1 and copies.get().file.name == original.file.name
    assert master.photos.count() == 2
    master.refresh_from_db()
    assert master.status == Status.REPORTED
    merge_in = master.events.get(action="merge_in")
    assert merge_in.data["duplicate"] == duplicate.number
    assert copies.get().event == merge_in


def test_merge_into_itself_or_into_a_closed_case_is_refused(world: CaseWorld, unchanged: Any) -> None:
    case = reported(world)
    closed = case_in(world, Status.CANCELLED)
    check = unchanged(case)
    with pytest.raises(ValidationError):
        services.case_merge(case=case, master=case, actor=world.clerk)
    with pytest.raises(ValidationError):
        services.case_merge(case=case, master=closed, actor=world.clerk)
    check()
