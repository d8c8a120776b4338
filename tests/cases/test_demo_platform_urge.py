"""After seed_demo the platform account exists, and the deadline sweep's automatic urging (催办) of a late unit is
recorded in its name: the demo city works a case end to end with the demo logins and lets the handling run late."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from cases import services
from cases.clock import clock_at
from cases.models import CaseEvent, Source, Status, Supervision, SupervisionKind
from cases.sweep import deadlines_sweep
from catalogue.models import ClassKind, MinorClass
from geography.models import GridCell
from organisations.demo import CITY_CENTRE_CODE, demo_login_rows
from organisations.models import Membership, OrgUnit, Role, User
from qingdao_ops.celery import app as celery_app

pytestmark = pytest.mark.django_db

SMALL_CITY = ["--core-scale", "0.1", "--components", "0", "--cases", "0"]
REPORTED_AT = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)  # a Thursday, 10:00 in Qingdao


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", *SMALL_CITY, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture(scope="module", autouse=True)
def demo_city(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """A small demo city without history, built once for the module and rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield seed()
        transaction.set_rollback(True)


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    # Celery's settings object refuses monkeypatch's undo (delattr), so restore by hand.
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_seed_demo_creates_the_platform_account_as_a_city_centre_dispatcher_nobody_signs_in_as() -> None:
    platform = User.objects.get(username="platform")

    assert list(Membership.objects.filter(user=platform).values_list("role", "unit__code")) == [
        (Role.DISPATCHER, CITY_CENTRE_CODE)
    ]
    assert platform.is_active and not platform.has_usable_password()
    assert "platform" not in [row.username for row in demo_login_rows()], "not printed as a login for people"


def test_a_second_seed_demo_leaves_the_platform_account_as_it_is() -> None:
    platform = User.objects.get(username="platform")

    output = seed()

    assert list(User.objects.filter(username="platform")) == [platform]
    assert Membership.objects.filter(user=platform).count() == 1
    assert re.search(r"demo logins +skipped", output), output


def test_after_seed_demo_the_sweep_urges_a_late_unit_in_the_platform_account_s_name(
    django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    names = ["leader", "intake", "dispatcher", "handler"]
    logins = {u.username: u for u in User.objects.filter(username__in=names)}
    handler_unit = Membership.objects.get(user=logins["handler"], role=Role.HANDLER).unit
    # A leader's instruction (领导交办) needs no verification; a cell in the district the handler's unit serves.
    cell = GridCell.objects.filter(district_id=handler_unit.district_id).order_by("code").first()
    litter = MinorClass.objects.get(major__kind=ClassKind.EVENT, major__code="01", code="01")  # 暴露垃圾
    with clock_at(REPORTED_AT):
        case = services.case_report(
            source=Source.LEADER_INSTRUCTION,
            minor_class=litter,
            location=cell.geom.point_on_surface,
            description="路边暴露垃圾，请尽快清理",
            reporter=logins["leader"],
        )
        services.case_register(case=case, actor=logins["intake"])
        services.case_dispatch(case=case, actor=logins["dispatcher"], lead_unit=handler_unit)
        services.case_accept(case=case, actor=logins["handler"])
    case.refresh_from_db()
    assert case.status == Status.HANDLING and case.handle_due_at is not None

    with clock_at(case.handle_due_at + dt.timedelta(minutes=1)), django_capture_on_commit_callbacks(execute=True):
        assert deadlines_sweep().overdue == 1

    platform = User.objects.get(username="platform")
    urge = CaseEvent.objects.get(case=case, action="urge")
    assert (urge.actor, urge.actor_role, urge.unit) == (
        platform,
        Role.DISPATCHER,
        OrgUnit.objects.get(code=CITY_CENTRE_CODE),
    )
    supervision = Supervision.objects.get(case=case, kind=SupervisionKind.URGE)
    assert (supervision.by, supervision.to_unit) == (platform, handler_unit)
    assert supervision.text.startswith("Overdue: the handling deadline")
