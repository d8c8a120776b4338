"""Publishing "this case changed" to the Channels groups watching it, after the change has committed.

Groups: `cases.unit.<id>` for the lead and supporting units, `cases.district.<id>` and
`cases.street.<id>` for the area. A message is a hint (the page reloads from the database), so an
unreachable channel layer is logged, never raised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "case.changed"  # consumers handle it in a `case_changed` method

_local = threading.local()


@contextmanager
def publishing_suppressed() -> Iterator[None]:
    """No live hints from this thread inside the block: for bulk back-filling (the demo history),
    where nobody watches and tens of thousands of messages would only flood the channel layer."""
    previous = getattr(_local, "suppressed", False)
    _local.suppressed = True
    try:
        yield
    finally:
        _local.suppressed = previous


def case_groups(*, district_id: int | None, street_id: int | None, unit_ids: Iterable[int]) -> list[str]:
    groups = [f"cases.unit.{unit_id}" for unit_id in sorted(set(unit_ids))]
    if district_id is not None:
        groups.append(f"cases.district.{district_id}")
    if street_id is not None:
        groups.append(f"cases.street.{street_id}")
    return groups


def publish_on_commit(*, groups: list[str], message: dict[str, Any]) -> None:
    """Send `message` to `groups` once the current transaction commits (never if it rolls back)."""
    if getattr(_local, "suppressed", False):
        return
    payload = {"type": MESSAGE_TYPE, **message}
    transaction.on_commit(lambda: _send(groups, payload))


class _PublishLoop:
    """One event loop per process, in a daemon thread, that every publish runs on.

    `async_to_sync` from plain sync code starts a fresh loop in a fresh thread per call, and channels-redis keeps
    its connection pools per loop, so each hint cost a new thread, loop and Redis connection (about 7 ms a case
    change through the API). Here the loop and its connections live as long as the process (a forked child,
    as under gunicorn or Celery's prefork pool, starts its own).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="case-events", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            loop = self._loop
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            future.result(timeout=PUBLISH_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


_publisher = _PublishLoop()
PUBLISH_TIMEOUT_S = 2.0  # a stuck channel layer must not hold the request that changed the case


async def _send_all(layer: Any, groups: list[str], payload: dict[str, Any]) -> None:
    for group in groups:
        await layer.group_send(group, payload)


def _send(groups: list[str], payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        _publisher.run(_send_all(layer, groups, payload))
    except Exception:  # noqa: BLE001 (the fact is committed; a lost hint must not fail the request)
        logger.warning("could not publish case change to %s", groups, exc_info=True)
