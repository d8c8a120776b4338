"""Shifts, positions and verification offers in the admin: lists an administrator can read, nothing to edit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from field import services
from field.models import InspectorPosition, InspectorShift, VerificationAssignment
from organisations.models import User
from tests.cases.factories import CaseWorld, case_world, reported
from tests.factories import UserFactory
from tests.field.duty_world import on_duty, seen_at

MODELS = [InspectorShift, InspectorPosition, VerificationAssignment]


@pytest.fixture
def world(db: Any) -> CaseWorld:
    return case_world()


@pytest.fixture
def admin_client(world: CaseWorld) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(UserFactory(is_superuser=True))
    return client


def url(model: Any, view: str, *args: Any) -> str:
    return reverse(f"admin:field_{model._meta.model_name}_{view}", args=args)


def test_the_lists_show_shifts_positions_and_offers_read_only(world: CaseWorld, admin_client: Client) -> None:
    now = timezone.now()
    on_duty(world.inspector, at=now - dt.timedelta(hours=1))
    seen_at(world.inspector, world.near(100), at=now)
    case = reported(world, source="citizen", at=now)
    services.verifications_assign(case_ids=[case.pk])
    before = {model: model.objects.count() for model in MODELS}

    for model in MODELS:
        listing = admin_client.get(url(model, "changelist"))
        assert listing.status_code == 200, model
        assert world.inspector.full_name in listing.content.decode(), model
        assert admin_client.get(url(model, "add")).status_code == 403
        detail = admin_client.get(url(model, "change", model.objects.get().pk))
        assert detail.status_code == 200 and b'name="_save"' not in detail.content
        assert admin_client.post(url(model, "delete", model.objects.get().pk), {"post": "yes"}).status_code == 403

    assert {model: model.objects.count() for model in MODELS} == before


def test_people_without_admin_rights_do_not_see_the_lists(world: CaseWorld) -> None:
    client = Client()
    client.force_login(User.objects.get(username="jiandu"))
    assert client.get(url(InspectorPosition, "changelist")).status_code == 302
