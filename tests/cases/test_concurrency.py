"""Concurrent transitions on one case are serialised by the case's row lock: one wins, the other sees its result."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from cases import services
from cases.log import chain_problems
from cases.models import Case, Status
from tests.cases.factories import case_in, case_world


@pytest.mark.django_db(transaction=True)
def test_two_clerks_registering_at_once_make_one_event_and_one_refusal() -> None:
    world = case_world()
    case = case_in(world, Status.REPORTED)
    clerks = [world.clerk, world.clerk]
    barrier = threading.Barrier(len(clerks))
    outcomes: list[Any] = []

    def register(actor: Any) -> None:
        try:
            barrier.wait(timeout=10)
            services.case_register(case=Case.objects.get(pk=case.pk), actor=actor)
            outcomes.append("registered")
        except ValidationError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(clerk,)) for clerk in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["invalid_status", "registered"]
    case.refresh_from_db()
    assert case.status == Status.REGISTERED
    assert list(case.events.values_list("action", flat=True).order_by("seq")) == ["report", "register"]
    assert chain_problems(case, case.events.order_by("seq")) == []
