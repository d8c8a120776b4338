"""Publishing "this case changed" to the Channels groups watching it, after the change has committed.

Groups: `cases.unit.<id>` for the lead and supporting units, `cases.district.<id>` and
`cases.street.<id>` for the area. A message is a hint (the page reloads from the database), so an
unreachable channel layer is logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
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


def _send(groups: list[str], payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, payload)
    except Exception:  # noqa: BLE001 (the fact is committed; a lost hint must not fail the request)
        logger.warning("could not publish case change to %s", groups, exc_info=True)
