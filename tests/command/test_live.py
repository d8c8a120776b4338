"""The live feed over a real daphne: who receives a new case, refusals, resume after a dropped socket,
resync when the stream cannot replay, coalesced bursts, and scope re-checks."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import transaction
from websockets.exceptions import InvalidStatus

from cases import services
from cases.events import CITY_GROUP, PLATFORM_GROUP, district_group, publish_on_commit, unit_group
from cases.models import Case, Source, Status
from command import live
from organisations.models import OrgUnit, Role
from organisations.services import membership_grant, membership_revoke
from tests.cases.factories import CaseWorld, advance, reported
from tests.command.conftest import LiveSocket
from tests.command.servers import free_port
from tests.factories import person

Opener = Callable[..., LiveSocket]


def run_coroutine(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own: a browser test earlier in the session (Playwright's sync API) leaves an
    event loop running in this thread, and asyncio.run refuses to start inside one."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as error:  # noqa: BLE001 (re-raised in the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _live(socket: LiveSocket, since: dict[str, str] | None = None) -> LiveSocket:
    socket.resume(since, socket.hello["epoch"])
    socket.pong()  # the feed has started (the resume is answered before the pong)
    return socket


def _marker(n: int = 1) -> None:
    """A platform-wide message every staff socket receives, after anything published before it."""
    publish_on_commit(groups=[PLATFORM_GROUP], message={"kind": "test-marker", "n": n})


def _in_b(world: CaseWorld) -> Case:
    """A 12345 hotline report in 市北区 (the other district)."""
    return reported(world, location=world.in_b, reporter=None, source=Source.HOTLINE, reporter_name="张三")


def _cases_in(frames: list[dict[str, Any]]) -> set[int]:
    return {e["case"] for f in frames if f["type"] == "events" for e in f["events"] if e.get("kind") == "case"}


def test_a_new_case_reaches_the_dispatchers_who_may_see_it_and_no_other(world: CaseWorld, live_socket: Opener) -> None:
    district = world.city.a.district
    mine = _live(live_socket(world.dispatcher))
    other = _live(live_socket(world.outsider_dispatcher))
    city = _live(live_socket(person(Role.DISPATCHER, world.city.root)))
    assert district_group(district.pk) in mine.hello["groups"] and PLATFORM_GROUP in mine.hello["groups"]
    assert district_group(district.pk) not in other.hello["groups"]
    assert city.hello["groups"] == [CITY_GROUP, PLATFORM_GROUP]

    case = reported(world)  # through the intake service, as the API does it

    [event] = mine.events(district_group(district.pk), 1)
    assert event["seq"] > mine.hello["last"][district_group(district.pk)]
    assert {k: v for k, v in event.items() if k != "seq"} == {
        "kind": "case",
        "case": case.pk,
        "number": case.number,
        "action": "report",
        "status": Status.REPORTED,
        "urgency": case.urgency,
        "lon": round(world.point.x, 7),
        "lat": round(world.point.y, 7),
        "district": district.pk,
        "street": world.city.a.streets[0].pk,
        "community": world.city.a.communities[0].pk,
        "minor_class": world.manhole.pk,
        "lead_unit": None,
        "is_overdue": False,
        "is_key": False,
        "is_difficult": False,
        "at": "2026-11-26T02:00:00Z",
    }
    assert [e["case"] for e in city.events(CITY_GROUP, 1)] == [case.pk]
    _marker()
    before_marker = other.until(lambda f: f.get("group") == PLATFORM_GROUP)
    assert case.pk not in _cases_in(before_marker)
    assert case.pk not in _cases_in(other.pong())


def test_a_dispatch_reaches_the_handling_unit(world: CaseWorld, live_socket: Opener) -> None:
    handler = _live(live_socket(world.handler))
    case = advance(world, reported(world), Status.DISPATCHED)

    [event] = handler.events(unit_group(world.handler_unit.pk), 1)
    assert (event["case"], event["action"], event["status"], event["lead_unit"]) == (
        case.pk,
        "dispatch",
        Status.DISPATCHED,
        world.handler_unit.pk,
    )


def test_a_redispatched_case_leaves_the_former_units_queue(world: CaseWorld, live_socket: Opener) -> None:
    parks = OrgUnit.objects.get(code="QD-PARKS")
    case = advance(world, reported(world), Status.RETURNED)
    former = _live(live_socket(world.handler))
    new = _live(live_socket(world.outsider_handler))

    services.case_dispatch(case=case, actor=world.dispatcher, lead_unit=parks)

    [gone] = former.events(unit_group(world.handler_unit.pk), 1)
    assert {k: v for k, v in gone.items() if k not in ("seq", "at")} == {
        "kind": "case",
        "case": case.pk,
        "number": case.number,
        "action": "dispatch",
        "gone": True,
    }, "only what takes it off the queue: the former unit no longer sees the case"
    [arrived] = new.events(unit_group(parks.pk), 1)
    assert (arrived["case"], arrived["lead_unit"], arrived["status"]) == (case.pk, parks.pk, Status.DISPATCHED)


def test_anonymous_and_citizen_sockets_are_refused(world: CaseWorld, live_socket: Opener) -> None:
    anonymous = live_socket(None, hello=False)
    assert anonymous.closed_with() == 4401
    citizen = live_socket(person(Role.CITIZEN, None), hello=False)
    assert citizen.closed_with() == 4403
    # Neither received anything before the close.
    assert anonymous.frames == [] and citizen.frames == []


def test_a_socket_from_a_foreign_origin_is_refused(world: CaseWorld, live_socket: Opener) -> None:
    with pytest.raises(InvalidStatus) as refused:
        live_socket(world.dispatcher, origin="https://evil.example.com")
    assert refused.value.response.status_code == 403


def test_resume_after_a_dropped_socket_replays_exactly_what_was_missed_in_order(
    world: CaseWorld, live_socket: Opener
) -> None:
    group = district_group(world.city.a.district.pk)
    first = _live(live_socket(world.dispatcher))
    seen = reported(world)
    [event] = first.events(group, 1)
    assert event["case"] == seen.pk
    first.close()

    missed = [reported(world, location=world.near(100 * i)) for i in range(1, 4)]
    again = live_socket(world.dispatcher)
    again.resume({group: event["seq"]}, first.hello["epoch"])
    replayed = again.until(lambda f: f.get("group") == group)[-1]
    assert replayed["type"] == "events" and replayed.get("replay") is True
    assert [e["case"] for e in replayed["events"]] == [c.pk for c in missed]
    seqs = [e["seq"] for e in replayed["events"]]
    assert seqs == sorted(seqs, key=live.parse_id) and len(set(seqs)) == 3

    after = reported(world, location=world.near(500))
    [live_event] = again.events(group, 1)
    assert live_event["case"] == after.pk and live.parse_id(live_event["seq"]) > live.parse_id(seqs[-1])
    assert _cases_in(again.pong()) == set(), "nothing came twice"


def test_a_page_reload_resumes_from_the_hello_of_the_earlier_socket(world: CaseWorld, live_socket: Opener) -> None:
    """A page that saw no event yet resumes from the `last` its hello gave it."""
    group = district_group(world.city.a.district.pk)
    first = live_socket(world.dispatcher)
    first.close()
    missed = reported(world)
    again = live_socket(world.dispatcher)
    again.resume({group: first.hello["last"][group]}, first.hello["epoch"])
    assert [e["case"] for e in again.events(group, 1)] == [missed.pk]


def test_a_trimmed_stream_answers_resync(world: CaseWorld, live_socket: Opener, streams: redis.Redis) -> None:
    group = district_group(world.city.a.district.pk)
    first = _live(live_socket(world.dispatcher))
    reported(world)
    [event] = first.events(group, 1)
    first.close()
    for i in range(1, 4):
        reported(world, location=world.near(100 * i))
    streams.xtrim(live.stream_key(group), maxlen=1, approximate=False)  # as MAXLEN does on a busy stream

    again = live_socket(world.dispatcher)
    again.resume({group: event["seq"]}, first.hello["epoch"])
    frames = again.until(lambda f: f.get("group") == group)
    assert frames[-1]["type"] == "resync"
    assert frames[-1]["last"] == streams.xrevrange(live.stream_key(group), count=1)[0][0]
    # The feed goes on after the resync.
    after = reported(world, location=world.near(600))
    assert [e["case"] for e in again.events(group, 1)] == [after.pk]


def test_too_many_missed_entries_answer_resync(world: CaseWorld, live_socket: Opener) -> None:
    group = unit_group(world.city.a.centre.pk)
    first = live_socket(world.dispatcher)
    first.close()
    for i in range(25):  # more than LIVE_REPLAY_MAX (20) in tests/command/live_settings.py
        live.publish([group], {"kind": "test", "n": i})
    again = live_socket(world.dispatcher)
    again.resume({group: first.hello["last"][group]}, first.hello["epoch"])
    assert again.until(lambda f: f.get("group") == group)[-1]["type"] == "resync"


def test_a_resume_from_another_redis_dataset_answers_resync(world: CaseWorld, live_socket: Opener) -> None:
    group = district_group(world.city.a.district.pk)
    socket = live_socket(world.dispatcher)
    socket.resume({group: socket.hello["last"][group]}, "an-epoch-before-redis-lost-its-data")
    frame = socket.until(lambda f: f.get("group") == group)[-1]
    assert frame["type"] == "resync" and frame["epoch"] == socket.hello["epoch"]


def test_groups_outside_the_users_scope_are_ignored_on_resume(
    world: CaseWorld, live_socket: Opener, streams: redis.Redis
) -> None:
    foreign = district_group(world.city.b.district.pk)
    _in_b(world)
    socket = live_socket(world.dispatcher)
    socket.resume({foreign: "0-0"}, socket.hello["epoch"])
    assert all(f.get("group") != foreign for f in socket.pong())
    assert streams.xlen(live.stream_key(foreign)) >= 1


def test_a_burst_is_coalesced_into_few_frames_and_nothing_is_lost(world: CaseWorld, live_socket: Opener) -> None:
    group = district_group(world.city.a.district.pk)
    socket = _live(live_socket(world.dispatcher))
    n = 50
    with transaction.atomic():  # a surge: the reports commit together and are published back to back
        burst = [reported(world, location=world.near(32 * i)) for i in range(n)]

    frames = socket.until(lambda f: f.get("group") == group and f["events"][-1]["case"] == burst[-1].pk)
    frames = [f for f in frames if f.get("group") == group]
    events = [e for f in frames for e in f["events"]]
    assert [e["case"] for e in events] == [c.pk for c in burst]
    assert len(frames) <= 5, [len(f["events"]) for f in frames]


def test_each_socket_gets_its_own_copy_from_one_read(world: CaseWorld, live_socket: Opener) -> None:
    group = district_group(world.city.a.district.pk)
    sockets = [_live(live_socket(world.dispatcher)) for _ in range(5)]
    case = reported(world)
    for socket in sockets:
        assert [e["case"] for e in socket.events(group, 1)] == [case.pk]


def test_a_platform_message_reaches_every_staff_socket(world: CaseWorld, live_socket: Opener) -> None:
    sockets = [_live(live_socket(u)) for u in (world.dispatcher, world.outsider_dispatcher, world.handler)]
    with transaction.atomic():
        publish_on_commit(groups=[PLATFORM_GROUP], message={"kind": "mode", "mode": "emergency"})
    for socket in sockets:
        [event] = socket.events(PLATFORM_GROUP, 1)
        assert (event["kind"], event["mode"]) == ("mode", "emergency")


def test_nothing_is_published_for_a_rolled_back_change(world: CaseWorld, live_socket: Opener) -> None:
    socket = _live(live_socket(world.dispatcher))
    with pytest.raises(RuntimeError), transaction.atomic():
        reported(world)
        raise RuntimeError("the request failed after intake")
    _marker()
    frames = socket.until(lambda f: f.get("group") == PLATFORM_GROUP)
    assert _cases_in(frames) == set() and not Case.objects.exists()


def test_a_revoked_membership_stops_delivery_at_the_next_resume(world: CaseWorld, live_socket: Opener) -> None:
    a_group, b_group = district_group(world.city.a.district.pk), district_group(world.city.b.district.pk)
    both = world.dispatcher
    membership_grant(user=both, role=Role.DISPATCHER, unit=world.city.b.centre)
    socket = _live(live_socket(both))
    assert {a_group, b_group} <= set(socket.hello["groups"])

    membership_revoke(user=both, role=Role.DISPATCHER, unit=world.city.b.centre)
    socket.resume()  # on the same socket: re-checks the scope
    changed = socket.until(lambda f: f["type"] == "groups")[-1]
    assert a_group in changed["groups"] and b_group not in changed["groups"]

    in_b = _in_b(world)
    in_a = reported(world)
    assert [e["case"] for e in socket.events(a_group, 1)] == [in_a.pk]
    assert in_b.pk not in _cases_in(socket.pong())

    # With every role gone the socket is closed, and a new one is refused.
    membership_revoke(user=both, role=Role.DISPATCHER, unit=world.city.a.centre)
    socket.resume()
    assert socket.closed_with() == 4403
    assert live_socket(both, hello=False).closed_with() == 4403


def test_a_logged_out_session_is_closed_at_the_next_resume(world: CaseWorld, live_socket: Opener) -> None:
    from django.contrib.sessions.models import Session

    socket = _live(live_socket(world.dispatcher))
    Session.objects.all().delete()  # logged out (everywhere)
    socket.resume()
    assert socket.closed_with() == 4401


def test_bad_messages_get_an_error_and_change_nothing(world: CaseWorld, live_socket: Opener) -> None:
    group = district_group(world.city.a.district.pk)
    socket = live_socket(world.dispatcher)
    socket.conn.send("not json")
    assert socket.next()["type"] == "error"
    socket.send({"type": "resume", "since": {group: "not-a-seq"}})
    frame = socket.until(lambda f: f.get("group") == group)[-1]
    assert frame["type"] == "resync"  # cannot be replayed from there: reload
    case = reported(world)
    assert [e["case"] for e in socket.events(group, 1)] == [case.pk]


# --- the hub, in this process against real Redis servers


class Collector:
    """A socket as the hub sees it, recording what it is handed."""

    def __init__(self) -> None:
        self.frames: list[live.Frame] = []
        self.resyncs: list[tuple[str, str, str]] = []
        self.changed = asyncio.Event()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for f in self.frames for e in f.events]

    def live_frame(self, frame: live.Frame) -> None:
        self.frames.append(frame)
        self.changed.set()

    def live_resync(self, group: str, last: str, epoch: str) -> None:
        self.resyncs.append((group, last, epoch))
        self.changed.set()

    async def wait(self, done: Callable[[Collector], bool], timeout: float = 10) -> None:
        async def until() -> None:
            while not done(self):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)


def _group() -> str:
    return f"cases.unit.hub-test-{uuid.uuid4().hex[:8]}"


def test_the_hub_reads_each_entry_once_for_all_its_sockets_and_stops_when_they_leave() -> None:
    async def main() -> None:
        hub = live.LiveHub()
        group, quiet = _group(), _group()
        members = [Collector() for _ in range(50)]
        loner = Collector()
        for member in members:
            await hub.join(member, [group])
        await hub.join(loner, [quiet])
        hub.leave(loner, [quiet])  # the last member of `quiet` leaves: the hub stops reading it
        assert hub.groups == {group}

        live.publish([quiet], {"n": -1})
        for i in range(10):
            live.publish([group], {"n": i})
        for member in members:
            await member.wait(lambda m: len(m.events) >= 10)
            assert [e["n"] for e in member.events] == list(range(10))
        assert hub.entries_read == 10, "each entry read once, for 50 sockets, and nothing of the group left"
        assert loner.events == []

        task = hub.reader_task
        for member in members:
            hub.leave(member, [group])
        await asyncio.wait([task], timeout=10)  # nobody left: the reader ends and closes its connection
        assert task.done() and hub.groups == set() and not hub.is_reading()
        await hub.close()

    run_coroutine(main())


def test_the_hub_coalesces_a_burst_and_a_late_joiner_gets_what_follows_its_position() -> None:
    async def main() -> None:
        hub = live.LiveHub(coalesce_s=0.3)
        group = _group()
        early = Collector()
        await hub.join(early, [group])
        for i in range(30):
            live.publish([group], {"n": i})
        await early.wait(lambda m: len(m.events) >= 30)
        assert [e["n"] for e in early.events] == list(range(30))
        assert len(early.frames) <= 3, [len(f.events) for f in early.frames]

        late = Collector()
        position = (await hub.join(late, [group]))[group]
        assert position == early.events[-1]["seq"]
        live.publish([group], {"n": 30})
        await late.wait(lambda m: len(m.events) >= 1)
        assert [e["n"] for e in late.events] == [30]
        await early.wait(lambda m: len(m.events) >= 31)
        await hub.close()

    run_coroutine(main())


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A Redis of this test's own (no persistence), to stop and start again: (url, stop, start)."""
    port = free_port()
    procs: list[subprocess.Popen] = []

    def start() -> None:
        procs.append(
            subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
            )
        )
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # polling for the server to listen, not timing behaviour

    def stop() -> None:
        procs[-1].terminate()
        procs[-1].wait(timeout=10)

    start()
    yield f"redis://127.0.0.1:{port}/0", stop, start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_the_hub_survives_a_redis_restart_and_asks_for_a_resync_when_the_data_was_lost(
    private_redis: tuple[str, Callable[[], None], Callable[[], None]], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, stop_redis, start_redis = private_redis
    settings.LIVE_REDIS_URL = url  # the publisher too

    async def main() -> None:
        hub = live.LiveHub(url, coalesce_s=0.05)
        group = _group()
        member = Collector()
        await hub.join(member, [group])
        live.publish([group], {"n": 1})
        await member.wait(lambda m: len(m.events) == 1)

        await asyncio.to_thread(stop_redis)
        deadline = time.monotonic() + 10
        while hub.read_errors == 0:  # the hub noticed (its blocked read was cut)
            assert time.monotonic() < deadline, "the hub did not notice that Redis went away"
            await asyncio.sleep(0.05)
        assert live.publish([group], {"n": "lost"}) is None  # logged, not raised
        await asyncio.to_thread(start_redis)  # empty: the streams and the epoch are gone

        await member.wait(lambda m: bool(m.resyncs), timeout=30)
        [(resynced, last, _epoch)] = member.resyncs
        assert resynced == group and last == live.ZERO
        live.publish([group], {"n": 2})
        await member.wait(lambda m: len(m.events) == 2)
        assert [e["n"] for e in member.events] == [1, 2]
        assert hub.is_reading()
        await hub.close()

    with caplog.at_level(logging.WARNING, logger="command.live"):
        run_coroutine(main())
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("live feed: reading from Redis failed") for m in messages)
    assert any(m.startswith("live feed: reading from Redis again") for m in messages)
