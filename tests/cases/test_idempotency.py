"""Idempotency keys on the case POSTs (cases.idempotency): a phone's offline queue sends a submission again with
the same `Idempotency-Key` until it gets an answer; a retry replays the first answer and never makes a second case,
event or photo, also when the first attempt failed or when both attempts arrive at once."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.client import encode_multipart
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cases import services, tasks
from cases.clock import clock_at
from cases.idempotency import HEADER, REPLAYED_HEADER
from cases.models import Case, CaseEvent, CasePhoto, ClientSubmission, Source, Status
from cases.services import core
from organisations.models import Role
from tests.cases.factories import T0, CaseWorld, case_in, case_world, png_upload
from tests.cases.test_query_counts import API_INTAKE_QUERIES
from tests.factories import person

REPORT = "/api/v1/cases/"
SELF_HANDLE = "/api/v1/cases/self-handle/"


def client_for(user: Any, **kwargs: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"}, **kwargs)
    client.force_login(user)
    return client


def report_body(world: CaseWorld, **fields: Any) -> dict[str, Any]:
    """A manhole report from the inspector with two photos (fresh upload objects, the same bytes every time)."""
    body = {
        "source": Source.INSPECTOR,
        "kind": "component",
        "minor_class": world.manhole.full_code,
        "lon": world.point.x,
        "lat": world.point.y,
        "description": "井盖破损",
        "photos": [png_upload("a.png"), png_upload("b.png", (10, 20, 200))],
    }
    body.update(fields)
    return body


def self_handle_body(world: CaseWorld) -> dict[str, Any]:
    return {
        "kind": "event",
        "minor_class": world.litter.full_code,
        "lon": world.point.x,
        "lat": world.point.y,
        "description": "路面散落垃圾，已清理",
        "before_photos": [png_upload("before.png")],
        "after_photos": [png_upload("after.png", (10, 200, 10))],
    }


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def written(root: Path) -> tuple[int, int, int, int]:
    """Cases, events, photo rows and photo files on disk."""
    return (
        Case.objects.count(),
        CaseEvent.objects.count(),
        CasePhoto.objects.count(),
        len(stored_files(root)),
    )


@pytest.fixture
def photo_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the uploads the services checked (and would save), in order."""
    seen: list[str] = []
    real = core.photo_accept

    def counting(*, upload: Any) -> Any:
        seen.append(upload.name)
        return real(upload=upload)

    monkeypatch.setattr(core, "photo_accept", counting)
    return seen


# --- retries of a success


@pytest.mark.django_db
def test_a_retried_report_replays_the_first_answer_and_writes_nothing(
    world: CaseWorld, media_root: Path, photo_checks: list[str]
) -> None:
    client = client_for(world.inspector)
    key = str(uuid.uuid4())

    first = client.post(REPORT, report_body(world), format="multipart", headers={HEADER: key})
    assert first.status_code == 201, first.json()
    assert REPLAYED_HEADER not in first.headers
    after_first = written(media_root)
    assert after_first == (1, 1, 2, 2)
    photo_checks.clear()

    again = client.post(REPORT, report_body(world), format="multipart", headers={HEADER: key})

    assert again.status_code == 201
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.content == first.content
    assert written(media_root) == after_first
    assert photo_checks == []  # the retry's photos were not even looked at
    submission = ClientSubmission.objects.get()
    assert (submission.user, submission.key, submission.case_id) == (world.inspector, key, first.json()["id"])


@pytest.mark.django_db
def test_a_retried_self_handling_replays_and_writes_no_second_case_or_photo(
    world: CaseWorld, media_root: Path, photo_checks: list[str]
) -> None:
    client = client_for(world.inspector)

    first = client.post(SELF_HANDLE, self_handle_body(world), format="multipart", headers={HEADER: "sh-1"})
    assert first.status_code == 201, first.json()
    after_first = written(media_root)
    assert after_first == (1, 2, 2, 2)
    photo_checks.clear()

    again = client.post(SELF_HANDLE, self_handle_body(world), format="multipart", headers={HEADER: "sh-1"})

    assert (again.status_code, again.headers[REPLAYED_HEADER]) == (201, "true")
    assert again.json() == first.json() and again.json()["status"] == Status.CLOSED
    assert written(media_root) == after_first
    assert photo_checks == []


@pytest.mark.django_db
def test_a_retried_verification_replays_instead_of_refusing_the_verified_case(world: CaseWorld) -> None:
    case = case_in(world, Status.VERIFYING)
    client = client_for(world.inspector)
    url = f"/api/v1/cases/{case.pk}/verify/"

    first = client.post(url, {"confirmed": True, "reason": "属实"}, format="json", headers={HEADER: "v-1"})
    assert first.status_code == 200, first.json()
    again = client.post(url, {"confirmed": True, "reason": "属实"}, format="json", headers={HEADER: "v-1"})

    # Without the key the second attempt would be a 409: the case is no longer awaiting verification.
    assert (again.status_code, again.headers[REPLAYED_HEADER]) == (200, "true")
    assert again.json() == first.json() and again.json()["status"] == Status.REPORTED
    assert list(CaseEvent.objects.filter(case=case).values_list("action", flat=True)) == ["report", "verify"]
    assert client.post(url, {"confirmed": True}, format="json").status_code == 409


@pytest.mark.django_db
def test_a_retried_check_replays_and_sends_the_case_back_once(world: CaseWorld, media_root: Path) -> None:
    case = case_in(world, Status.HANDLED)
    client = client_for(world.inspector)
    url = f"/api/v1/cases/{case.pk}/check/"

    def body() -> dict[str, Any]:
        return {"passed": "false", "reason": "井盖仍松动", "photos": [png_upload("check.png", (1, 1, 1))]}

    first = client.post(url, body(), format="multipart", headers={HEADER: "c-1"})
    assert first.status_code == 200, first.json()
    files = len(stored_files(media_root))
    again = client.post(url, body(), format="multipart", headers={HEADER: "c-1"})

    assert (again.status_code, again.headers[REPLAYED_HEADER]) == (200, "true")
    assert again.json() == first.json() and again.json()["status"] == Status.REWORK
    assert CaseEvent.objects.filter(case=case, action="check").count() == 1
    assert CasePhoto.objects.filter(case=case, phase="check").count() == 1
    assert len(stored_files(media_root)) == files


# --- retries of a failure


@pytest.mark.django_db
def test_a_retry_after_a_server_error_makes_exactly_one_case(
    world: CaseWorld, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = services.case_report
    calls: list[int] = []

    def fails_once(**kwargs: Any) -> Case:
        case = real(**kwargs)  # written, then the request dies: all of it must go
        calls.append(case.pk)
        if len(calls) == 1:
            raise RuntimeError("connection to the photo store lost")
        return case

    monkeypatch.setattr(services, "case_report", fails_once)
    client = client_for(world.inspector, raise_request_exception=False)

    failed = client.post(REPORT, report_body(world), format="multipart", headers={HEADER: "r-500"})
    assert failed.status_code == 500
    assert written(media_root) == (0, 0, 0, 0)
    assert not ClientSubmission.objects.exists()  # the key is free again

    retried = client.post(REPORT, report_body(world), format="multipart", headers={HEADER: "r-500"})
    assert retried.status_code == 201 and REPLAYED_HEADER not in retried.headers
    again = client.post(REPORT, report_body(world), format="multipart", headers={HEADER: "r-500"})

    assert again.headers[REPLAYED_HEADER] == "true" and again.json()["id"] == retried.json()["id"]
    assert written(media_root) == (1, 1, 2, 2)
    assert Case.objects.get().pk == retried.json()["id"] == calls[1]


@pytest.mark.django_db
def test_a_refused_submission_keeps_no_key_so_a_corrected_one_may_use_it(world: CaseWorld, media_root: Path) -> None:
    client = client_for(world.inspector)
    outside = report_body(world, lon=world.outside_city.x, lat=world.outside_city.y)

    refused = client.post(REPORT, outside, format="multipart", headers={HEADER: "fix-me"})
    assert refused.status_code == 400 and list(refused.json()) == ["location"]
    assert not ClientSubmission.objects.exists()

    corrected = client.post(REPORT, report_body(world), format="multipart", headers={HEADER: "fix-me"})

    assert corrected.status_code == 201 and REPLAYED_HEADER not in corrected.headers
    assert written(media_root) == (1, 1, 2, 2)


# --- misuse of a key


@pytest.mark.django_db
def test_a_key_reused_with_another_body_or_endpoint_is_a_422_and_changes_nothing(
    world: CaseWorld, media_root: Path
) -> None:
    client = client_for(world.inspector)
    assert client.post(REPORT, report_body(world), format="multipart", headers={HEADER: "k"}).status_code == 201
    other_photo = report_body(world, photos=[png_upload("a.png"), png_upload("b.png", (10, 20, 201))])
    case = case_in(world, Status.VERIFYING)
    before = written(media_root)

    answers = [
        client.post(REPORT, report_body(world, description="井盖缺失"), format="multipart", headers={HEADER: "k"}),
        client.post(REPORT, other_photo, format="multipart", headers={HEADER: "k"}),  # one byte of a photo
        client.post(f"/api/v1/cases/{case.pk}/verify/", {"confirmed": True}, format="json", headers={HEADER: "k"}),
    ]

    for answer in answers:
        assert answer.status_code == 422
        assert answer.json() == {"detail": "This Idempotency-Key was already used for a different request."}
    assert written(media_root) == before
    assert Case.objects.get(pk=case.pk).status == Status.VERIFYING


@pytest.mark.django_db
def test_the_fields_order_and_the_multipart_boundary_do_not_make_another_request(world: CaseWorld) -> None:
    client = client_for(world.inspector)

    def send(boundary: str, reverse: bool) -> Any:
        body = report_body(world)
        if reverse:
            body = dict(reversed(list(body.items())))
        return client.post(
            REPORT,
            encode_multipart(boundary, body),
            content_type=f"multipart/form-data; boundary={boundary}",
            headers={HEADER: "order"},
        )

    first = send("----phone-boundary-1", reverse=False)
    again = send("----phone-boundary-2", reverse=True)

    assert first.status_code == 201
    assert (again.status_code, again.headers[REPLAYED_HEADER]) == (201, "true")
    assert again.json()["id"] == first.json()["id"]
    assert Case.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 65, "a b", "密钥", "a/b", "a.b"])
def test_a_malformed_key_is_a_400_naming_the_header_and_nothing_is_written(
    world: CaseWorld, media_root: Path, key: str
) -> None:
    response = client_for(world.inspector).post(REPORT, report_body(world), format="multipart", headers={HEADER: key})

    assert response.status_code == 400
    assert list(response.json()) == [HEADER]
    assert written(media_root) == (0, 0, 0, 0) and not ClientSubmission.objects.exists()


@pytest.mark.django_db
def test_the_longest_key_and_a_uuid_are_accepted(world: CaseWorld) -> None:
    client = client_for(world.inspector)
    for key in ["A" * 64, str(uuid.uuid4()), "x_Y-9"]:
        assert client.post(REPORT, report_body(world), format="multipart", headers={HEADER: key}).status_code == 201
    assert Case.objects.count() == 3


@pytest.mark.django_db
def test_the_same_key_from_two_people_is_two_submissions(world: CaseWorld) -> None:
    colleague = person(Role.INSPECTOR, world.city.a.workstations[0], username="jiandu-b")

    mine = client_for(world.inspector).post(REPORT, report_body(world), format="multipart", headers={HEADER: "same"})
    theirs = client_for(colleague).post(REPORT, report_body(world), format="multipart", headers={HEADER: "same"})

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert REPLAYED_HEADER not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert sorted(Case.objects.values_list("reporter__username", flat=True)) == ["jiandu", "jiandu-b"]


@pytest.mark.django_db
def test_without_a_key_nothing_is_kept_and_a_retry_is_a_new_report(world: CaseWorld) -> None:
    client = client_for(world.inspector)

    for _ in range(2):
        assert client.post(REPORT, report_body(world), format="multipart").status_code == 201

    assert Case.objects.count() == 2 and not ClientSubmission.objects.exists()


# --- cost


@pytest.mark.django_db
def test_a_key_adds_two_statements_and_the_savepoint_around_the_service(
    world: CaseWorld, django_assert_num_queries: Any
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.inspector).key}")
    body = report_body(world)
    del body["photos"]  # JSON, as the existing budget's test sends it
    assert client.post(REPORT, body, format="json").status_code == 201  # the class is now cached

    # The claim (INSERT ... ON CONFLICT) and the stored answer (UPDATE); the service's own atomic block now nests
    # inside the request's transaction, which adds its SAVEPOINT and RELEASE (here, inside the test's transaction,
    # the request's block is the savepoint and the service's was one already: the same count).
    with clock_at(T0), django_assert_num_queries(API_INTAKE_QUERIES + 4):
        assert client.post(REPORT, body, format="json", headers={HEADER: "cost"}).status_code == 201
    # A replay: the token, then savepoint, claim, read of the stored answer, release.
    with clock_at(T0), django_assert_num_queries(5):
        assert client.post(REPORT, body, format="json", headers={HEADER: "cost"}).status_code == 201


# --- two attempts at once


def _someone_waits_for_a_lock() -> bool:
    """Whether another session of this test database waits for a lock (the activity view is read afresh: it is
    otherwise kept for the rest of the transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND a.datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.fixture
def two_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], list[Any]]]:
    """Run `send` in two threads at once; whichever runs the report holds its transaction open until the other
    waits for the key's lock, so the second attempt really arrives while the first is under way."""
    real = services.case_report
    holders: list[int] = []
    saw_the_other_wait: list[bool] = []

    def holding(**kwargs: Any) -> Case:
        case = real(**kwargs)
        holders.append(case.pk)
        pause = threading.Event()
        for _ in range(2000):  # polled for at most ~20 s; the test fails below if the other never waited
            if _someone_waits_for_a_lock():
                saw_the_other_wait.append(True)
                break
            pause.wait(0.01)
        return case

    monkeypatch.setattr(services, "case_report", holding)

    def run(send: Callable[[], Any]) -> list[Any]:
        barrier = threading.Barrier(2)
        answers: list[Any] = []

        def attempt() -> None:
            try:
                barrier.wait(timeout=10)
                answers.append(send())
            finally:
                connection.close()

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(holders) == 1, holders
        assert saw_the_other_wait == [True]
        return answers

    yield run


@pytest.mark.django_db(transaction=True)
def test_two_attempts_at_once_make_one_case_and_get_the_same_answer(
    media_root: Path, two_at_once: Callable[[Callable[[], Any]], list[Any]]
) -> None:
    world = case_world()
    clients = iter([client_for(world.inspector), client_for(world.inspector)])
    lock = threading.Lock()

    def send() -> Any:
        with lock:
            client = next(clients)
        return client.post(REPORT, report_body(world), format="multipart", headers={HEADER: "both"})

    answers = two_at_once(send)

    assert sorted(a.status_code for a in answers) == [201, 201]
    assert sorted(a.headers.get(REPLAYED_HEADER, "") for a in answers) == ["", "true"]
    assert answers[0].json() == answers[1].json()
    assert written(media_root) == (1, 1, 2, 2)


# --- forgetting old keys


@pytest.mark.django_db
def test_the_purge_forgets_keys_older_than_30_days_only(world: CaseWorld) -> None:
    def kept(key: str, days: float) -> None:
        ClientSubmission.objects.create(
            user=world.inspector,
            key=key,
            endpoint="POST /api/v1/cases/",
            fingerprint="0" * 64,
            status_code=201,
            response_body="{}",
            created_at=T0 - dt.timedelta(days=days),
        )

    kept("old", 30.01)
    kept("older", 400)
    kept("recent", 29.99)
    kept("today", 0)

    with clock_at(T0):
        deleted = tasks.purge_client_submissions()

    assert deleted == 2
    assert sorted(ClientSubmission.objects.values_list("key", flat=True)) == ["recent", "today"]
