"""Live hints go to one Redis Stream per group, after commit: from any thread, from a forked child, trimmed to
about LIVE_STREAM_MAXLEN, and a Redis that cannot be reached is logged, never raised."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from cases import events
from command import live


@pytest.fixture
def group() -> Iterator[str]:
    """A group of this test's own (the stream is removed afterwards)."""
    name = f"cases.district.test-{uuid.uuid4().hex[:8]}"
    yield name
    _redis().delete(live.stream_key(name))


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def _messages(group: str) -> list[dict[str, Any]]:
    return [live.decode(i, f) for i, f in _redis().xrange(live.stream_key(group))]


def test_one_entry_per_group_in_one_round_trip_with_increasing_ids(group: str) -> None:
    other = f"{group}-b"
    try:
        first = live.publish([group, other], {"kind": "case", "case": 1})
        second = live.publish([group, other], {"kind": "case", "case": 2})
        assert first is not None and second is not None and set(first) == {group, other}
        assert live.parse_id(second[group]) > live.parse_id(first[group])
        assert [(m["seq"], m["case"]) for m in _messages(group)] == [(first[group], 1), (second[group], 2)]
        assert [m["case"] for m in _messages(other)] == [1, 2]
    finally:
        _redis().delete(live.stream_key(other))


def test_hints_sent_from_many_threads_at_once_all_arrive(group: str) -> None:
    threads = [threading.Thread(target=events._send, args=([group], {"case": i})) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(m["case"] for m in _messages(group)) == list(range(8))


def test_a_forked_child_publishes_on_a_connection_of_its_own(group: str) -> None:
    events._send([group], {"case": 1})  # the parent's connection is open
    pid = os.fork()
    if pid == 0:  # the child must not share the parent's socket
        try:
            events._send([group], {"case": 2})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    events._send([group], {"case": 3})  # the parent's connection still works

    assert [m["case"] for m in _messages(group)] == [1, 2, 3]


def test_streams_are_trimmed_to_about_the_configured_length(group: str, settings: Any) -> None:
    settings.LIVE_STREAM_MAXLEN = 100
    for i in range(1_000):
        live.publish([group], {"case": i})
    length = _redis().xlen(live.stream_key(group))
    # Approximate trimming (~) removes whole nodes of the stream: at least 100 kept, never far more.
    assert 100 <= length <= 300
    assert _messages(group)[-1]["case"] == 999


def test_an_unreachable_redis_is_logged_not_raised_and_the_recovery_too(
    group: str, settings: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live._publisher, "failures", 0)  # an earlier test may have ended during an outage
    with caplog.at_level(logging.WARNING, logger="command.live"):
        settings.LIVE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
        assert live.publish([group], {"case": 1}) is None
        assert live.publish([group], {"case": 2}) is None
        settings.LIVE_REDIS_URL = settings.REDIS_URL
        assert live.publish([group], {"case": 3}) is not None

    warnings = [r.getMessage() for r in caplog.records]
    assert warnings[0].startswith("could not publish live update")
    assert warnings[1] == "live updates publish again; 2 were lost while Redis was unreachable"
    assert len(warnings) == 2, "one warning per outage, not one per lost hint"
    assert [m["case"] for m in _messages(group)] == [3]


def test_nothing_is_published_while_suppressed(group: str, django_capture_on_commit_callbacks: Any, db: None) -> None:
    with django_capture_on_commit_callbacks(execute=True) as suppressed, events.publishing_suppressed():
        events.publish_on_commit(groups=[group], message={"case": 1})
    with django_capture_on_commit_callbacks(execute=True) as published:
        events.publish_on_commit(groups=[group], message={"case": 2})
    assert (len(suppressed), len(published)) == (0, 1)
    assert [m["case"] for m in _messages(group)] == [2]


def test_case_groups_name_the_city_the_area_and_the_units() -> None:
    assert events.case_groups(district_id=1, street_id=2, community_id=3, unit_ids=[9, 7, 9, None]) == [
        "cases.city",
        "cases.district.1",
        "cases.street.2",
        "cases.community.3",
        "cases.unit.7",
        "cases.unit.9",
    ]
    assert events.case_groups(district_id=1, street_id=None, unit_ids=[]) == ["cases.city", "cases.district.1"]
