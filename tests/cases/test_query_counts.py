"""Query budgets of the hot services, so a change that adds round trips shows up here (issue 3's intake and
dispatcher figures depend on them). Counts include the SAVEPOINT and RELEASE of the service's own atomic block."""

from __future__ import annotations

from typing import Any

import pytest

from cases import services
from cases.clock import clock_at
from cases.models import Case, CaseEvent, CasePhoto, Source, Status
from organisations.models import User
from tests.cases.factories import T0, CaseWorld, case_in, png_upload
from tests.photos.images import QINGDAO_LAT, QINGDAO_LON, build_exif, jpeg_bytes, upload

# Savepoint, one statement for place/id/number/limits/duplicate/component, the reporter's memberships, one
# statement for the case row and its first event, release.
INTAKE_QUERIES = 5
# Savepoint, lock (with the supporting units), the actor's scope (2) and memberships, the routing rule with its
# lead unit (and whether it has supporting units: they are read only when it has), one statement for the event
# and the case row, release. A second call by the same user object skips the 3 reads.
DISPATCH_QUERIES = 8
DISPATCH_QUERIES_WARM = 5
# Savepoint, lock, one statement for the event and the case row, release: what every simple transition costs
# for a user already in hand; the first call with a fresh user object reads its scope (2) and memberships (1) once.
SIMPLE_TRANSITION_QUERIES_WARM = 4
SIMPLE_TRANSITION_QUERIES = 7


def _fresh(user: User) -> User:
    """The user as a new request sees it: nothing cached on the object."""
    return User.objects.get(pk=user.pk)


def _report(world: CaseWorld, reporter: User, **extra: Any) -> Case:
    with clock_at(T0):
        return services.case_report(
            source=Source.INSPECTOR,
            minor_class=world.manhole,
            location=world.point,
            description="井盖破损",
            reporter=reporter,
            **extra,
        )


def test_an_inspector_report_costs_at_most_its_budget(world: CaseWorld, django_assert_num_queries: Any) -> None:
    first = _report(world, world.inspector)
    inspector = _fresh(world.inspector)

    with django_assert_num_queries(INTAKE_QUERIES):
        case = _report(world, inspector)

    # The one statement found the duplicate, as the separate look-up did.
    assert case.duplicate_candidate_id == first.pk
    assert case.events.get().hash == Case.objects.get(pk=case.pk).last_event_hash


# Through the API with a device or integration token: the token with its user, the class (cached per process
# after its first use), then the service; the answer is built from the case in hand and the names intake read.
API_INTAKE_QUERIES = 1 + INTAKE_QUERIES


def test_a_report_through_the_api_costs_the_service_and_one_query_for_the_token(
    world: CaseWorld, django_assert_num_queries: Any
) -> None:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.inspector).key}")
    body = {
        "source": Source.INSPECTOR,
        "kind": world.manhole.major.kind,
        "minor_class": world.manhole.full_code,
        "lon": world.point.x,
        "lat": world.point.y,
        "description": "井盖破损",
    }
    assert client.post("/api/v1/cases/", body, format="json").status_code == 201  # the class is now cached

    with clock_at(T0), django_assert_num_queries(API_INTAKE_QUERIES):
        response = client.post("/api/v1/cases/", body, format="json")

    assert response.status_code == 201
    answer = response.json()
    case = Case.objects.select_related("district", "street", "grid_cell").get(pk=answer["id"])
    assert (answer["district_name"], answer["street_name"], answer["grid_cell_code"]) == (
        case.district.name,
        case.street.name,
        case.grid_cell.code,
    )


def test_a_report_with_photos_adds_one_insert_for_all_of_them(world: CaseWorld, django_assert_num_queries: Any) -> None:
    inspector = _fresh(world.inspector)

    phone_photo = upload(jpeg_bytes(exif=build_exif()), "IMG_0001.jpg")

    with django_assert_num_queries(INTAKE_QUERIES + 1):
        case = _report(world, inspector, photos=[png_upload("a.png"), phone_photo])

    # Both rows as stored, in the order sent; the phone's GPS fix and time taken kept as fields.
    photos = list(CasePhoto.objects.filter(case=case).order_by("id"))
    assert [p.original_name for p in photos] == ["a.png", "IMG_0001.jpg"]
    assert photos[0].gps is None
    assert (photos[1].gps.x, photos[1].gps.y) == (pytest.approx(QINGDAO_LON), pytest.approx(QINGDAO_LAT))
    assert photos[1].taken_at is not None
    assert all(p.event_id == case.events.get().pk and p.file.storage.exists(p.file.name) for p in photos)


def test_a_routed_dispatch_costs_at_most_its_budget(world: CaseWorld, django_assert_num_queries: Any) -> None:
    # As the API hands it over (cases.selectors.case_get_for_user_or_404): with its class.
    first, second = (
        Case.objects.select_related("minor_class__major").get(pk=case_in(world, Status.REGISTERED).pk) for _ in "12"
    )
    dispatcher = _fresh(world.dispatcher)

    with clock_at(T0), django_assert_num_queries(DISPATCH_QUERIES):
        services.case_dispatch(case=first, actor=dispatcher)
    with clock_at(T0), django_assert_num_queries(DISPATCH_QUERIES_WARM):
        services.case_dispatch(case=second, actor=dispatcher)

    for case in (first, second):
        case.refresh_from_db()
        assert (case.status, case.lead_unit_id) == (Status.DISPATCHED, world.handler_unit.pk)
        assert case.events.order_by("-seq").first().action == "dispatch"


def test_simple_transitions_cost_four_queries_for_a_user_in_hand(
    world: CaseWorld, django_assert_num_queries: Any
) -> None:
    first, second = case_in(world, Status.DISPATCHED), case_in(world, Status.DISPATCHED)
    handler = _fresh(world.handler)

    with clock_at(T0):
        with django_assert_num_queries(SIMPLE_TRANSITION_QUERIES):
            services.case_accept(case=first, actor=handler)
        with django_assert_num_queries(SIMPLE_TRANSITION_QUERIES_WARM):
            services.case_accept(case=second, actor=handler)
        with django_assert_num_queries(SIMPLE_TRANSITION_QUERIES_WARM):
            services.case_hold(case=first, actor=world.dispatcher, reason="等待施工许可")

    assert Case.objects.get(pk=first.pk).status == Status.ON_HOLD
    assert Case.objects.get(pk=second.pk).status == Status.HANDLING
    assert [e.action for e in CaseEvent.objects.filter(case=first).order_by("seq")][-2:] == ["accept", "hold"]
