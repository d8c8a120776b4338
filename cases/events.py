"""Publishing "this changed" to the live feed's groups, after the change has committed.

Groups: `cases.city` (city-wide watchers), `cases.district.<id>`, `cases.street.<id>`, `cases.community.<id>`
for the area, `cases.unit.<id>` for the lead and supporting units, and `platform` (every staff socket) for
platform-wide messages such as the operating mode. Each group is a Redis Stream (command.live) whose entry ids
are the sequence numbers a page resumes from. A message is a hint (the page can reload from the database), so
an unreachable Redis is logged, never raised.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

from command import live

CITY_GROUP = "cases.city"
PLATFORM_GROUP = "platform"

_local = threading.local()


@contextmanager
def publishing_suppressed() -> Iterator[None]:
    """No live hints from this thread inside the block: for bulk back-filling (the demo history),
    where nobody watches and tens of thousands of messages would only flood the streams."""
    previous = getattr(_local, "suppressed", False)
    _local.suppressed = True
    try:
        yield
    finally:
        _local.suppressed = previous


def district_group(district_id: int) -> str:
    return f"cases.district.{district_id}"


def street_group(street_id: int) -> str:
    return f"cases.street.{street_id}"


def community_group(community_id: int) -> str:
    return f"cases.community.{community_id}"


def unit_group(unit_id: int) -> str:
    return f"cases.unit.{unit_id}"


def case_groups(
    *,
    district_id: int | None,
    street_id: int | None,
    community_id: int | None = None,
    unit_ids: Iterable[int] = (),
) -> list[str]:
    """The groups a change of a case in this place, handled by these units, goes to (the city's first)."""
    groups = [CITY_GROUP]
    if district_id is not None:
        groups.append(district_group(district_id))
    if street_id is not None:
        groups.append(street_group(street_id))
    if community_id is not None:
        groups.append(community_group(community_id))
    groups += [unit_group(unit_id) for unit_id in sorted({u for u in unit_ids if u is not None})]
    return groups


def publish_on_commit(*, groups: list[str], message: dict[str, Any]) -> None:
    """Append `message` to `groups` once the current transaction commits (never if it rolls back)."""
    if getattr(_local, "suppressed", False) or not groups:
        return
    groups, payload = list(groups), dict(message)
    transaction.on_commit(lambda: _send(groups, payload))


def _send(groups: list[str], payload: dict[str, Any]) -> None:
    live.publish(groups, payload)
