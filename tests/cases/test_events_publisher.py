"""Live hints go out on one long-lived event loop per process: from any thread, in a forked child too."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from cases import events


def _sync(fn, *args):  # noqa: ANN001, ANN202
    """async_to_sync in a thread of its own: the test thread may already run an event loop (Playwright's)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: async_to_sync(fn)(*args)).result()


@pytest.fixture
def channel() -> str:
    layer = get_channel_layer()
    name = _sync(layer.new_channel)
    _sync(layer.group_add, "cases.district.424242", name)
    yield name
    _sync(layer.group_discard, "cases.district.424242", name)


def _received(channel: str, n: int) -> list[dict]:
    """n messages, or a failure if they don't come (rather than waiting forever)."""
    layer = get_channel_layer()

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    return [_sync(receive) for _ in range(n)]


def test_hints_sent_from_many_threads_at_once_all_arrive(channel: str) -> None:
    def send(i: int) -> None:
        events._send(["cases.district.424242"], {"type": events.MESSAGE_TYPE, "case": i})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(m["case"] for m in _received(channel, 8)) == list(range(8))


def test_a_forked_child_publishes_on_a_loop_of_its_own(channel: str) -> None:
    events._send(["cases.district.424242"], {"type": events.MESSAGE_TYPE, "case": 1})  # the parent's loop runs
    pid = os.fork()
    if pid == 0:  # the child: the parent's loop thread did not survive the fork
        try:
            events._send(["cases.district.424242"], {"type": events.MESSAGE_TYPE, "case": 2})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)

    assert sorted(m["case"] for m in _received(channel, 2)) == [1, 2]
