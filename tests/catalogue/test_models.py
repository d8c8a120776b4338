"""What the database guarantees about the loaded catalogue and about any time limit written later."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils.translation import override

from catalogue.models import ClassKind, MinorClass, ResponsibleKind, Stage, TimeLimit, Urgency
from workcalendar.units import TimeUnit

from .factories import MinorClassFactory

pytestmark = pytest.mark.django_db


def test_every_loaded_minor_class_has_criteria_a_department_kind_and_all_fifteen_limits(standard_catalogue):
    classes = MinorClass.objects.annotate(
        limits=Count("time_limits"),
        pairs=Count(
            "time_limits", filter=Q(time_limits__urgency__in=Urgency.values, time_limits__stage__in=Stage.values)
        ),
    )

    assert classes.count() == 249
    assert not classes.filter(Q(registration_criteria="") | Q(closure_criteria="")).exists()
    assert set(classes.values_list("default_responsible_kind", flat=True)) <= set(ResponsibleKind.values)
    assert set(classes.values_list("limits", "pairs")) == {(15, 15)}


def test_every_loaded_emergency_limit_is_in_calendar_time(standard_catalogue):
    emergency = TimeLimit.objects.filter(urgency=Urgency.EMERGENCY)

    assert emergency.count() == 249 * 5
    assert set(emergency.values_list("unit", flat=True)) == {TimeUnit.CALENDAR_HOURS, TimeUnit.CALENDAR_MINUTES}
    # Verification and check on site: half an hour in an emergency, for every class.
    on_site = emergency.filter(stage__in=[Stage.VERIFY, Stage.CHECK])
    assert set(on_site.values_list("amount", "unit")) == {(30, TimeUnit.CALENDAR_MINUTES)}


def test_codes_are_unique_within_each_kind_and_shared_across_kinds(standard_catalogue):
    for kind in ClassKind.values:
        codes = [m.full_code for m in MinorClass.objects.filter(major__kind=kind).select_related("major")]
        assert len(codes) == len(set(codes)), kind
    assert MinorClass.objects.filter(major__code="01", code="01").count() == 3


def test_the_database_refuses_an_emergency_limit_in_working_time():
    minor = MinorClassFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        TimeLimit.objects.create(
            minor_class=minor, urgency=Urgency.EMERGENCY, stage=Stage.HANDLE, amount=2, unit=TimeUnit.WORKING_HOURS
        )

    assert not TimeLimit.objects.exists()


@pytest.mark.parametrize("unit", [TimeUnit.WORKING_MINUTES, TimeUnit.WORKING_DAYS])
def test_an_emergency_limit_in_working_minutes_or_days_is_refused_by_the_database_and_by_clean(unit):
    minor = MinorClassFactory()
    limit = TimeLimit(minor_class=minor, urgency=Urgency.EMERGENCY, stage=Stage.DISPATCH, amount=30, unit=unit)

    with pytest.raises(ValidationError) as refused:
        limit.clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        limit.save()

    with override("en"):
        assert refused.value.message_dict == {
            "unit": ["Emergency time limits are counted in calendar hours or minutes."]
        }
    assert not TimeLimit.objects.exists()


def test_minute_limits_are_stored_for_emergencies_in_calendar_minutes_and_otherwise_in_either_kind():
    minor = MinorClassFactory()
    rows = [
        (Urgency.EMERGENCY, Stage.DISPATCH, TimeUnit.CALENDAR_MINUTES),
        (Urgency.URGENT, Stage.VERIFY, TimeUnit.WORKING_MINUTES),
        (Urgency.NORMAL, Stage.VERIFY, TimeUnit.CALENDAR_MINUTES),
    ]
    for urgency, stage, unit in rows:
        limit = TimeLimit(minor_class=minor, urgency=urgency, stage=stage, amount=30, unit=unit)
        limit.full_clean()
        limit.save()

    assert sorted(TimeLimit.objects.values_list("urgency", "unit", "amount")) == [
        (Urgency.EMERGENCY, TimeUnit.CALENDAR_MINUTES, 30),
        (Urgency.NORMAL, TimeUnit.CALENDAR_MINUTES, 30),
        (Urgency.URGENT, TimeUnit.WORKING_MINUTES, 30),
    ]
    emergency = TimeLimit.objects.get(urgency=Urgency.EMERGENCY)
    with override("en"):
        assert str(emergency) == "Emergency Dispatch: 30 calendar minutes"


def test_the_database_refuses_a_second_limit_for_the_same_pair_and_a_zero_limit():
    minor = MinorClassFactory()
    TimeLimit.objects.create(
        minor_class=minor, urgency=Urgency.NORMAL, stage=Stage.HANDLE, amount=2, unit=TimeUnit.WORKING_DAYS
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        TimeLimit.objects.create(
            minor_class=minor, urgency=Urgency.NORMAL, stage=Stage.HANDLE, amount=3, unit=TimeUnit.WORKING_DAYS
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        TimeLimit.objects.create(
            minor_class=minor, urgency=Urgency.URGENT, stage=Stage.HANDLE, amount=0, unit=TimeUnit.WORKING_HOURS
        )

    assert list(TimeLimit.objects.values_list("urgency", "amount")) == [(Urgency.NORMAL, 2)]


def test_a_class_created_outside_the_loader_has_usable_defaults():
    minor = MinorClass.objects.create(major=MinorClassFactory().major, code="77", name="测试")

    minor.refresh_from_db()
    assert minor.default_responsible_kind == ResponsibleKind.OTHER
    assert (minor.self_handle_allowed, minor.duplicate_radius_m, minor.rules_seeded_at) == (False, 30, None)
