"""The live feed socket (`/ws/live/`): staff only, joined to the groups of what the user may see.

Protocol (JSON text frames; see static/js/live.js for the browser side):

server -> client
  {"type": "hello", "groups": [...], "last": {group: seq}, "epoch": "...", "coalesce_ms": 200}
      right after connecting; `last` is each group's newest sequence number at that moment.
  {"type": "events", "group": g, "events": [{"seq": "...", "kind": "case", ...}, ...]}
      new entries of one group, oldest first (several at once when they came in a burst); after a resume
      the missed ones come first, marked "replay": true.
  {"type": "resync", "group": g, "last": seq, "epoch": "..."}
      what was missed in g cannot be replayed (trimmed, Redis lost, too many): reload from the API; the feed
      goes on after `last`.
  {"type": "groups", "groups": [...], "last": {group: seq}}   the user's scope changed (after a re-check).
  {"type": "pong"}
client -> server
  {"type": "resume", "since": {group: seq}, "epoch": "..."}
      starts the feed (send it after every hello, with `since` empty on a first connection): the missed entries
      of the groups in `since` are sent, then everything new. Groups the user may not see are ignored.
      A later resume on the same socket re-checks the user's scope.
  {"type": "ping"}

Close codes: 4401 not logged in, 4403 no staff role (also when the roles are revoked while connected),
4429 the socket fell too far behind, 1013 Redis unreachable at connect (try again later).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from cases.events import (
    CITY_GROUP,
    PLATFORM_GROUP,
    community_group,
    district_group,
    street_group,
    unit_group,
)
from command import live
from organisations.selectors import Scope, scope_for

logger = logging.getLogger(__name__)

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4429
CLOSE_TRY_AGAIN = 1013
MAX_INCOMING_BYTES = 256 * 1024


def scope_groups(scope: Scope) -> frozenset[str]:
    """The groups a socket with this scope joins (none for an empty scope)."""
    if scope.is_empty:
        return frozenset()
    if scope.city_wide:
        return frozenset({CITY_GROUP, PLATFORM_GROUP})
    return frozenset(
        {
            PLATFORM_GROUP,
            *(district_group(i) for i in scope.district_ids),
            *(street_group(i) for i in scope.street_ids),
            *(community_group(i) for i in scope.community_ids),
            *(unit_group(i) for i in scope.unit_ids),
        }
    )


def _groups_now(user: Any, session: SessionBase | None) -> frozenset[str] | None:
    """The user's groups, from their roles as they are now; None when the session has ended (logged out)."""
    if session is not None and session.session_key and not session.exists(session.session_key):
        return None
    return scope_groups(scope_for(user, fresh=True))


def _refresh_seconds() -> float:
    return float(getattr(settings, "LIVE_SCOPE_REFRESH_S", 300))


def _outbox_max() -> int:
    return int(getattr(settings, "LIVE_OUTBOX_MAX", 2_000))


class LiveFeedConsumer(AsyncWebsocketConsumer):
    """One browser tab's feed. The hub reads the streams; this socket filters and sends, in order."""

    channel_layer_alias = None  # fed by the hub from Redis Streams, not by the channel layer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups_now: frozenset[str] = frozenset()
        self.cursor: dict[str, live.StreamId] = {}  # the last seq sent per group
        self.hello_last: dict[str, str] = {}
        self.started = False
        self.outbox: collections.deque[live.Frame | str] = collections.deque()
        self.outbox_ready = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.hub: live.LiveHub | None = None
        self.epoch = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when daphne cancels the connection at shutdown, without a disconnect message.
            self._leave_all()
            for task in self.tasks:
                task.cancel()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_NOT_LOGGED_IN)
            return
        groups = await database_sync_to_async(_groups_now)(user, None)
        if not groups:
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.hub = live.hub()
        try:
            self.epoch = await live.ensure_epoch(self.hub.redis)
            self.hello_last = await live.stream_heads(self.hub.redis, groups)
        except Exception:  # noqa: BLE001 (the browser retries with backoff)
            logger.warning("live feed: Redis unreachable at connect", exc_info=True)
            await self._refuse(CLOSE_TRY_AGAIN)
            return
        self.groups_now = groups
        await self.accept()
        await self._send_json(
            {
                "type": "hello",
                "groups": sorted(groups),
                "last": self.hello_last,
                "epoch": self.epoch,
                "coalesce_ms": round(self.hub.coalesce_s * 1000),
            }
        )

    async def _refuse(self, code: int) -> None:
        # Accepted first so that the browser sees the code (a refused handshake is only "1006").
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self._leave_all()
        for task in self.tasks:
            task.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.groups_now:
            return
        if text_data is None or len(text_data) > MAX_INCOMING_BYTES:
            await self._send_json({"type": "error", "detail": "expected a JSON text frame"})
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            await self._send_json({"type": "pong"})
        elif kind == "resume":
            since = message.get("since")
            epoch = message.get("epoch")
            await self._resume(since if isinstance(since, dict) else {}, epoch if isinstance(epoch, str) else None)
        else:
            await self._send_json({"type": "error", "detail": "unknown message type"})

    # --- the feed

    async def _resume(self, since: dict[str, Any], epoch: str | None) -> None:
        if not self.started:
            await self._start(since, epoch)
        else:
            await self._recheck()

    async def _start(self, since: dict[str, Any], epoch: str | None) -> None:
        """Join the hub, send what the page missed in the groups it names (and may still see), then go live."""
        assert self.hub is not None
        try:
            positions = await self.hub.join(self, self.groups_now)
        except Exception:  # noqa: BLE001
            logger.warning("live feed: Redis unreachable at resume", exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        self.started = True
        same_epoch = epoch is None or epoch == self.epoch
        ranges: dict[str, tuple[live.StreamId, live.StreamId]] = {}
        resync: list[str] = []
        for group in sorted(self.groups_now):
            until = live.parse_id(positions.get(group, live.ZERO)) or (0, 0)
            asked = since.get(group)
            start = live.parse_id(asked) if asked is not None else None
            if asked is not None and (start is None or not same_epoch):
                resync.append(group)  # a seq from another dataset (or not a seq at all): cannot be replayed
                start = until
            if start is None:
                start = live.parse_id(self.hello_last.get(group, live.ZERO)) or (0, 0)
            ranges[group] = (start, until)
            self.cursor[group] = max(start, until)
        try:
            replays = await live.replay(self.hub.redis, ranges)
        except Exception:  # noqa: BLE001
            logger.warning("live feed: Redis unreachable at resume", exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        for group in sorted(self.groups_now):
            found = replays.get(group)
            if group in resync or (found is not None and found.resync):
                await self._send_json(
                    {"type": "resync", "group": group, "last": live.format_id(self.cursor[group]), "epoch": self.epoch}
                )
            elif found is not None and found.events:
                await self.send(text_data=live.Frame.of(group, found.events, replay=True).text)
        self.tasks.append(asyncio.create_task(self._sender()))
        self.tasks.append(asyncio.create_task(self._rechecking()))

    async def _recheck(self) -> None:
        """Follow the user's roles as they are now: leave the groups no longer in scope, join new ones."""
        assert self.hub is not None
        user = self.scope["user"]
        groups = await database_sync_to_async(_groups_now)(user, self.scope.get("session"))
        if groups is None:
            await self._stop(CLOSE_NOT_LOGGED_IN)
            return
        if not groups:
            await self._stop(CLOSE_FORBIDDEN)
            return
        gone, added = self.groups_now - groups, groups - self.groups_now
        if not gone and not added:
            return
        self.hub.leave(self, gone)
        self.groups_now = groups
        for group in gone:
            self.cursor.pop(group, None)
        try:
            positions = await self.hub.join(self, added) if added else {}
        except Exception:  # noqa: BLE001
            await self._stop(CLOSE_TRY_AGAIN)
            return
        for group, position in positions.items():
            self.cursor[group] = live.parse_id(position) or (0, 0)
        self._queue(
            live.encode(
                {
                    "type": "groups",
                    "groups": sorted(groups),
                    "last": {g: live.format_id(self.cursor[g]) for g in sorted(added) if g in self.cursor},
                }
            )
        )

    async def _rechecking(self) -> None:
        while True:
            await asyncio.sleep(_refresh_seconds())
            await self._recheck()

    async def _stop(self, code: int) -> None:
        self._leave_all()
        await self.close(code=code)

    def _leave_all(self) -> None:
        if self.hub is not None and self.started:
            self.hub.leave(self, self.groups_now)
        self.groups_now = frozenset()
        self.outbox.clear()

    # --- what the hub calls (must not block)

    def live_frame(self, frame: live.Frame) -> None:
        self._queue(frame)

    def live_resync(self, group: str, last: str, epoch: str) -> None:
        self.epoch = epoch
        if group in self.cursor:
            self.cursor[group] = live.parse_id(last) or (0, 0)
        self._queue(live.encode({"type": "resync", "group": group, "last": last, "epoch": epoch}))

    def _queue(self, item: live.Frame | str) -> None:
        if len(self.outbox) >= _outbox_max():
            # The browser (or this process) cannot keep up: drop the socket; it reconnects and resumes.
            logger.warning("live feed: a socket fell %d frames behind; closing it", len(self.outbox))
            self._leave_all()
            asyncio.get_running_loop().create_task(self.close(code=CLOSE_TOO_SLOW))
            return
        self.outbox.append(item)
        self.outbox_ready.set()

    async def _sender(self) -> None:
        """Send the queued frames in order, skipping entries this socket already has (sent by a replay)."""
        while True:
            await self.outbox_ready.wait()
            while self.outbox:
                item = self.outbox.popleft()
                text = item if isinstance(item, str) else self._unsent(item)
                if text is None:
                    continue
                try:
                    await self.send(text_data=text)
                except Exception:  # noqa: BLE001 (the socket is going away; disconnect() ends this task)
                    logger.debug("live feed: send failed", exc_info=True)
                    return
            self.outbox_ready.clear()

    def _unsent(self, frame: live.Frame) -> str | None:
        cursor = self.cursor.get(frame.group)
        if cursor is None:
            return None  # left the group meanwhile
        if frame.last <= cursor:
            return None
        self.cursor[frame.group] = frame.last
        if frame.first > cursor:
            return frame.text
        events = [e for e in frame.events if (live.parse_id(e["seq"]) or (0, 0)) > cursor]
        return live.Frame.of(frame.group, events).text

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=live.encode(message))
