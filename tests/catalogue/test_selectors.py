"""Catalogue reads: active classes for pickers, resolving a class from its 4-digit full code, time limits."""

from __future__ import annotations

import pytest

from catalogue.models import ClassKind, MinorClass, Stage, TimeLimit, Urgency
from catalogue.selectors import (
    TimeLimitSpec,
    major_class_list,
    minor_class_by_full_code,
    minor_class_get_by_full_code,
    minor_class_list,
    time_limit_for,
    time_limits_for,
)
from workcalendar.units import TimeUnit

from .factories import TimeLimitFactory

pytestmark = pytest.mark.django_db


def test_minor_class_list_leaves_out_inactive_classes_unless_asked(standard_catalogue):
    MinorClass.objects.filter(major__code="01", code="22").update(is_active=False)

    active = minor_class_list(kind=ClassKind.COMPONENT)
    everything = minor_class_list(kind=ClassKind.COMPONENT, include_inactive=True)

    assert active.count() == 114
    assert everything.count() == 115
    assert "0122" not in [m.code_full for m in active]
    assert [m.code_full for m in everything][:3] == ["0101", "0102", "0103"]


def test_minor_class_get_by_full_code_resolves_the_class(standard_catalogue):
    found = minor_class_get_by_full_code(kind=ClassKind.COMPONENT, full_code="0301")

    assert (found.full_code, found.name, found.major.name) == ("0301", "公共厕所", "市容环境")


@pytest.mark.parametrize("full_code", ["0199", "01", "01a1", "010101"])
def test_minor_class_get_by_full_code_raises_for_an_unknown_or_malformed_code(standard_catalogue, full_code):
    with pytest.raises(MinorClass.DoesNotExist):
        minor_class_get_by_full_code(kind=ClassKind.COMPONENT, full_code=full_code)


def test_major_class_list_is_in_code_order(standard_catalogue):
    assert [m.code for m in major_class_list(kind=ClassKind.COMPONENT)] == ["01", "02", "03", "04", "05", "06"]


# --- the interface the cases app codes against


def test_minor_class_by_full_code_needs_the_kind_to_tell_the_kinds_apart(standard_catalogue):
    event = minor_class_by_full_code("0101", kind=ClassKind.EVENT)
    component = minor_class_by_full_code("0101", kind=ClassKind.COMPONENT)

    assert (event.name, event.major.kind) == ("暴露垃圾", ClassKind.EVENT)
    assert (component.name, component.major.kind) == ("上水井盖", ClassKind.COMPONENT)
    with pytest.raises(MinorClass.MultipleObjectsReturned):
        minor_class_by_full_code("0101")


def test_minor_class_by_full_code_without_a_kind_finds_a_code_only_one_kind_has(standard_catalogue):
    # 0124 exists among events (浒苔堆积) and components (信息亭); 0522 only among events.
    assert minor_class_by_full_code("0522").name == "违规圈占公共空间"


@pytest.mark.parametrize("full_code", ["0199", "01", "01a1", "010101", ""])
def test_minor_class_by_full_code_returns_none_for_an_unknown_or_malformed_code(standard_catalogue, full_code):
    assert minor_class_by_full_code(full_code, kind=ClassKind.EVENT) is None


def test_time_limit_for_returns_the_class_s_limit_for_that_urgency_and_stage(standard_catalogue):
    illegal_building = minor_class_by_full_code("0305", kind=ClassKind.EVENT)
    cover = minor_class_by_full_code("0101", kind=ClassKind.COMPONENT)

    assert time_limit_for(minor_class=illegal_building, urgency=Urgency.NORMAL, stage=Stage.HANDLE) == TimeLimitSpec(
        amount=15, unit=TimeUnit.WORKING_DAYS
    )
    assert time_limit_for(minor_class=cover, urgency=Urgency.URGENT, stage=Stage.HANDLE) == TimeLimitSpec(
        amount=2, unit=TimeUnit.CALENDAR_HOURS
    )
    assert time_limit_for(minor_class=cover, urgency=Urgency.NORMAL, stage=Stage.VERIFY) == TimeLimitSpec(
        amount=2, unit=TimeUnit.WORKING_HOURS
    )


def test_time_limit_for_sees_an_administrator_s_edit(standard_catalogue):
    leaflets = minor_class_by_full_code("0201", kind=ClassKind.EVENT)
    TimeLimit.objects.filter(minor_class=leaflets, urgency=Urgency.NORMAL, stage=Stage.HANDLE).update(
        amount=1, unit=TimeUnit.WORKING_DAYS
    )

    spec = time_limit_for(minor_class=leaflets, urgency=Urgency.NORMAL, stage=Stage.HANDLE)

    assert spec == TimeLimitSpec(amount=1, unit=TimeUnit.WORKING_DAYS)


def test_time_limit_for_returns_none_for_a_class_without_that_limit(standard_catalogue):
    leaflets = minor_class_by_full_code("0201", kind=ClassKind.EVENT)
    TimeLimit.objects.filter(minor_class=leaflets, urgency=Urgency.URGENT, stage=Stage.CHECK).delete()

    assert time_limit_for(minor_class=leaflets, urgency=Urgency.URGENT, stage=Stage.CHECK) is None
    assert time_limit_for(minor_class=leaflets, urgency="unheard-of", stage=Stage.CHECK) is None


def test_time_limits_for_gives_every_stage_in_one_query_or_none_when_prefetched(
    standard_catalogue, django_assert_num_queries
):
    leaflets = minor_class_by_full_code("0201", kind=ClassKind.EVENT)
    with django_assert_num_queries(1):
        limits = time_limits_for(minor_class=leaflets, urgency=Urgency.EMERGENCY)

    prefetched = MinorClass.objects.prefetch_related("time_limits").get(pk=leaflets.pk)
    with django_assert_num_queries(0):
        again = time_limits_for(minor_class=prefetched, urgency=Urgency.EMERGENCY)
        one = time_limit_for(minor_class=prefetched, urgency=Urgency.EMERGENCY, stage=Stage.HANDLE)

    assert set(limits) == set(Stage.values)
    assert {spec.unit for spec in limits.values()} == {TimeUnit.CALENDAR_HOURS, TimeUnit.CALENDAR_MINUTES}
    assert limits[Stage.VERIFY] == TimeLimitSpec(amount=30, unit=TimeUnit.CALENDAR_MINUTES)
    assert again == limits
    assert one == limits[Stage.HANDLE] == TimeLimitSpec(amount=1, unit=TimeUnit.CALENDAR_HOURS)


def test_the_old_and_the_new_lookup_by_full_code_agree(standard_catalogue):
    for kind in ClassKind.values:
        assert minor_class_by_full_code("0301", kind=kind) == minor_class_get_by_full_code(kind=kind, full_code="0301")


def test_time_limit_for_a_factory_made_class_sees_only_its_own_limits():
    limit = TimeLimitFactory(urgency=Urgency.EMERGENCY, stage=Stage.VERIFY, amount=1)
    other = TimeLimitFactory(urgency=Urgency.EMERGENCY, stage=Stage.VERIFY, amount=5)

    assert time_limit_for(minor_class=limit.minor_class, urgency=Urgency.EMERGENCY, stage=Stage.VERIFY) == (
        TimeLimitSpec(amount=1, unit=TimeUnit.CALENDAR_HOURS)
    )
    assert other.minor_class != limit.minor_class
    assert time_limit_for(minor_class=limit.minor_class, urgency=Urgency.NORMAL, stage=Stage.VERIFY) is None
