"""The live feed's streams: one Redis Stream per group (`live:<group>`), whose entry ids are the sequence numbers.

Publishing (sync, after commit, in the web or worker process) appends one entry per group in one round trip.
Reading (async, in the daphne process) goes through one hub per event loop: it reads each stream once with
XREAD BLOCK, whatever the number of sockets watching it, and hands each group's new entries to its local
sockets at most once per coalescing interval. A socket that reconnects replays what it missed with XRANGE.

A stream entry is a hint about a fact already in PostgreSQL: a Redis failure is logged, never raised, and a
page that cannot be caught up (stream trimmed, Redis lost) is told to reload from the API ("resync").

Settings (optional): LIVE_REDIS_URL (default REDIS_URL), LIVE_STREAM_MAXLEN (10,000, approximate trim),
LIVE_COALESCE_MS (200), LIVE_REPLAY_MAX (1,000 entries per group on resume, beyond that a resync).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
import redis.asyncio as aredis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

STREAM_PREFIX = "live:"
# Set once per Redis dataset: a page whose remembered epoch differs was fed by a Redis that has since lost its data.
EPOCH_KEY = "live:epoch"
FIELD = "m"  # each entry holds one field: the message as JSON
ZERO = "0-0"  # the id before any entry: "from the start" for a stream that did not exist yet

StreamId = tuple[int, int]
_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")


def stream_key(group: str) -> str:
    return f"{STREAM_PREFIX}{group}"


def parse_id(value: Any) -> StreamId | None:
    """A stream id as a comparable pair, or None if `value` is not one (ids from clients are checked here)."""
    if not isinstance(value, str):
        return None
    match = _ID.match(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def format_id(value: StreamId) -> str:
    return f"{value[0]}-{value[1]}"


def _url() -> str:
    return getattr(settings, "LIVE_REDIS_URL", None) or settings.REDIS_URL


def maxlen() -> int:
    return int(getattr(settings, "LIVE_STREAM_MAXLEN", 10_000))


def coalesce_seconds() -> float:
    return int(getattr(settings, "LIVE_COALESCE_MS", 200)) / 1000


def replay_max() -> int:
    return int(getattr(settings, "LIVE_REPLAY_MAX", 1_000))


def encode(message: Mapping[str, Any]) -> str:
    return json.dumps(message, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def decode(entry_id: str, fields: Mapping[str, str]) -> dict[str, Any] | None:
    """A stream entry as the event the page sees: its id as `seq`, then the message."""
    try:
        message = json.loads(fields[FIELD])
    except (KeyError, TypeError, ValueError):
        logger.warning("live feed: skipping malformed entry %s", entry_id)
        return None
    if not isinstance(message, dict):
        return None
    return {"seq": entry_id, **message}


# --- publishing (sync)


class _Publisher:
    """One sync Redis client per process (a forked child, as under gunicorn or Celery's prefork pool, makes its own).

    Short timeouts and a single retry: a stuck Redis must not hold the request that changed the case for long,
    and the retry covers a pooled connection that died with a Redis restart.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._pid = 0
        self.failures = 0  # publishes lost in a row (logged once when it starts, once when it ends)

    def client(self) -> redis.Redis:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = redis.Redis.from_url(
                    _url(),
                    socket_timeout=1.0,
                    socket_connect_timeout=0.5,
                    retry=Retry(NoBackoff(), 1),
                    health_check_interval=30,
                )
                self._pid = os.getpid()
            return self._client

    def reset(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None


_publisher = _Publisher()


def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in ("REDIS_URL", "LIVE_REDIS_URL"):
        _publisher.reset()


setting_changed.connect(_reset_on_setting_change)


def publish(groups: Sequence[str], message: Mapping[str, Any]) -> dict[str, str] | None:
    """Append `message` to each group's stream in one round trip; the entry ids by group, or None if Redis failed
    (logged: the first failure of a run with its traceback, the recovery with the number of hints lost)."""
    if not groups:
        return {}
    data = encode(message)
    try:
        pipe = _publisher.client().pipeline(transaction=False)
        # NX: a Redis that lost its data gets a new epoch, so pages fed before the loss know to resync.
        pipe.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        for group in groups:
            pipe.xadd(stream_key(group), {FIELD: data}, maxlen=maxlen(), approximate=True)
        ids = pipe.execute()[1:]
    except Exception:  # noqa: BLE001 (the fact is committed; a lost hint must not fail the request)
        _publisher.failures += 1
        if _publisher.failures == 1:
            logger.warning("could not publish live update to %s", list(groups), exc_info=True)
        else:
            logger.debug("could not publish live update to %s", list(groups))
        return None
    if _publisher.failures:
        logger.warning("live updates publish again; %d were lost while Redis was unreachable", _publisher.failures)
        _publisher.failures = 0
    return {group: _text(entry_id) for group, entry_id in zip(groups, ids, strict=True)}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- reading (async)


def _async_client(url: str, *, pool_size: int | None = None, read_timeout: float = 5.0) -> aredis.Redis:
    kwargs: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": read_timeout,
        "socket_connect_timeout": 2.0,
        "retry": AsyncRetry(NoBackoff(), 1),
    }
    if pool_size is None:
        return aredis.Redis.from_url(url, **kwargs)
    pool = aredis.BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=10, **kwargs)
    return aredis.Redis(connection_pool=pool)


async def ensure_epoch(client: aredis.Redis) -> str:
    """The current dataset's epoch (made here if no publisher has made it yet)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        pipe.get(EPOCH_KEY)
        _, epoch = await pipe.execute()
    return epoch


async def stream_heads(client: aredis.Redis, groups: Iterable[str]) -> dict[str, str]:
    """The id of each group's newest entry (ZERO for a stream that does not exist yet)."""
    groups = list(groups)
    if not groups:
        return {}
    async with client.pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.xrevrange(stream_key(group), count=1)
        replies = await pipe.execute()
    return {group: (reply[0][0] if reply else ZERO) for group, reply in zip(groups, replies, strict=True)}


@dataclass(frozen=True)
class Replay:
    events: list[dict[str, Any]] = field(default_factory=list)
    resync: bool = False  # the stream no longer holds everything after `since`: reload from the API


async def replay(
    client: aredis.Redis, ranges: Mapping[str, tuple[StreamId, StreamId]], *, limit: int | None = None
) -> dict[str, Replay]:
    """For each group the entries after `since` up to `until` (inclusive), oldest first, or a resync when some
    of them were trimmed away, more than `limit` were missed, or the stream is gone (one round trip)."""
    limit = replay_max() if limit is None else limit
    wanted = [(group, since, until) for group, (since, until) in ranges.items() if until > since]
    result = {group: Replay() for group in ranges}
    if not wanted:
        return result
    async with client.pipeline(transaction=False) as pipe:
        for group, since, until in wanted:
            key = stream_key(group)
            pipe.xinfo_stream(key)
            pipe.xrange(key, min=f"({format_id(since)}", max=format_id(until), count=limit + 1)
        replies = await pipe.execute(raise_on_error=False)
    for i, (group, since, _until) in enumerate(wanted):
        info, entries = replies[2 * i], replies[2 * i + 1]
        if isinstance(info, Exception) or isinstance(entries, Exception):
            # No such key: the stream is gone (Redis lost it) although the page had seen entries in it.
            result[group] = Replay(resync=True)
            continue
        if _lost_after(info, since) or len(entries) > limit:
            result[group] = Replay(resync=True)
            continue
        events = [event for entry_id, fields in entries if (event := decode(entry_id, fields)) is not None]
        result[group] = Replay(events=events)
    return result


def _lost_after(info: Mapping[str, Any], since: StreamId) -> bool:
    """Whether entries after `since` were removed from the stream (XINFO STREAM tells).

    Trimming removes the oldest entries, so everything from the current first entry on is still there; an
    entry after `since` can only be missing when `since` lies before the first entry and something was
    removed. (When `since` was itself the last entry trimmed, nothing was missed, but nothing tells: resync.)
    """
    length = int(info.get("length") or 0)
    if (parse_id(info.get("max-deleted-entry-id")) or (0, 0)) > since:  # XDEL
        return True
    if length == 0:
        return (parse_id(info.get("last-generated-id")) or (0, 0)) > since
    first_entry = info.get("first-entry")
    first = parse_id(info.get("recorded-first-entry-id")) or (parse_id(first_entry[0]) if first_entry else None)
    if first is None or since >= first:
        return False
    added = info.get("entries-added")  # Redis 7: removed = added - length; older: assume something was
    return added is None or int(added) > length


@dataclass(frozen=True)
class Frame:
    """One group's new entries, encoded once for every socket that watches the group."""

    group: str
    events: list[dict[str, Any]]
    first: StreamId
    last: StreamId
    text: str

    @classmethod
    def of(cls, group: str, events: list[dict[str, Any]], **extra: Any) -> Frame:
        text = encode({"type": "events", "group": group, "events": events, **extra})
        return cls(group, events, parse_id(events[0]["seq"]), parse_id(events[-1]["seq"]), text)  # type: ignore[arg-type]


class Member(Protocol):
    """A socket as the hub sees it; both calls must return at once (queue and send later)."""

    def live_frame(self, frame: Frame) -> None: ...

    def live_resync(self, group: str, last: str, epoch: str) -> None: ...


class LiveHub:
    """Reads the streams that local sockets watch, once per process, and hands each group's entries to them.

    One per event loop (see `hub()`). The reader task runs while any socket is a member; a group is read from
    the moment its first member joins until its last one leaves. Entries reach the members of a group at most
    once per coalescing interval: the first entry after a quiet interval goes out at once, the ones arriving in
    the next interval wait for its end and go out together.
    """

    READ_COUNT = 1_000  # entries per stream per read
    BLOCK_MS = 5_000
    MAX_BACKOFF_S = 10.0

    def __init__(self, url: str | None = None, *, coalesce_s: float | None = None) -> None:
        self.url = url or _url()
        self.coalesce_s = coalesce_seconds() if coalesce_s is None else coalesce_s
        self._members: dict[str, set[Member]] = {}
        self._read: dict[str, str] = {}  # the last id read per group (the XREAD cursor)
        self._delivered: dict[str, str] = {}  # the last id handed to the members per group
        self._starting: dict[str, asyncio.Future[None]] = {}  # groups whose head is being fetched
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._next_flush: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._client: aredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake_key = f"{STREAM_PREFIX}wake:{uuid.uuid4().hex}"
        self._wake_id = ZERO
        self._wake_inflight = False
        self._epoch: str | None = None
        # Counters, for logs and tests.
        self.entries_read = 0
        self.frames_flushed = 0
        self.read_errors = 0

    # --- what sockets call

    @property
    def redis(self) -> aredis.Redis:
        """A pooled client for the sockets' own commands (hello, replay)."""
        if self._client is None:
            self._client = _async_client(self.url, pool_size=16)
        return self._client

    @property
    def groups(self) -> set[str]:
        return set(self._members)

    def is_reading(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def reader_task(self) -> asyncio.Task[None] | None:
        """The reading task while it runs (it ends by itself once no socket is left)."""
        return self._task

    async def join(self, member: Member, groups: Iterable[str]) -> dict[str, str]:
        """Add `member` to `groups`; returns, per group, the id up to which entries were handed out before it
        joined: it receives every entry after that one (and is responsible for the ones before)."""
        groups = list(groups)
        for group in groups:
            self._members.setdefault(group, set()).add(member)
        new = [g for g in groups if g not in self._read and g not in self._starting]
        if new:
            started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for group in new:
                self._starting[group] = started
            try:
                heads = await stream_heads(self.redis, new)
            except BaseException as exc:
                for group in new:
                    self._starting.pop(group, None)
                started.set_exception(exc)
                started.exception()  # retrieved: other joiners waiting on it re-raise it themselves
                self.leave(member, groups)
                raise
            for group in new:
                self._starting.pop(group, None)
                if self._members.get(group):
                    self._read[group] = self._delivered[group] = heads[group]
            started.set_result(None)
            self._wake()
        waiting = {self._starting[g] for g in groups if g in self._starting}
        if waiting:
            try:
                await asyncio.gather(*waiting)
            except BaseException:
                self.leave(member, groups)
                raise
        self._ensure_reader()
        return {g: self._delivered[g] for g in groups if g in self._delivered}

    def leave(self, member: Member, groups: Iterable[str]) -> None:
        for group in groups:
            members = self._members.get(group)
            if members is None:
                continue
            members.discard(member)
            if not members:
                self._forget(group)
        if not self._members and self._task is not None:
            self._task.cancel()  # nobody left: stop reading (and close the reader's connection)

    async def close(self) -> None:
        """Stop reading and close the connections (the members, if any, get nothing more)."""
        for group in list(self._members):
            self._forget(group)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing; the key expires by itself
                await client.delete(self._wake_key)
            await client.aclose()

    # --- inside

    def _forget(self, group: str) -> None:
        self._members.pop(group, None)
        self._read.pop(group, None)
        self._delivered.pop(group, None)
        self._pending.pop(group, None)
        self._next_flush.pop(group, None)
        timer = self._timers.pop(group, None)
        if timer is not None:
            timer.cancel()

    def _ensure_reader(self) -> None:
        if self._members and not self.is_reading():
            self._task = asyncio.get_running_loop().create_task(self._read_loop(), name="live-hub-reader")

    def _wake(self) -> None:
        """Interrupt a blocked XREAD so that it starts again with the current set of groups."""
        if self._wake_inflight or not self.is_reading():
            return
        self._wake_inflight = True
        asyncio.get_running_loop().create_task(self._send_wake())

    async def _send_wake(self) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=10, approximate=False)
                pipe.expire(self._wake_key, 3600)
                await pipe.execute()
        except Exception:  # noqa: BLE001 (the reader wakes by itself within BLOCK_MS)
            logger.debug("live feed: could not wake the reader", exc_info=True)

    async def _read_loop(self) -> None:
        reader = _async_client(self.url, read_timeout=self.BLOCK_MS / 1000 + 5)
        failures = 0
        try:
            while self._members:
                self._wake_inflight = False  # a join from here on sends a new wake-up
                streams = {stream_key(g): cursor for g, cursor in self._read.items()}
                streams[self._wake_key] = self._wake_id
                try:
                    if self._epoch is None:
                        self._epoch = await ensure_epoch(reader)
                    elif failures:
                        await self._after_outage(reader)
                    reply = await reader.xread(streams, count=self.READ_COUNT, block=self.BLOCK_MS)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 (Redis away or restarting: keep trying, the sockets stay open)
                    failures += 1
                    self.read_errors += 1
                    if failures == 1:
                        logger.warning("live feed: reading from Redis failed; retrying", exc_info=True)
                    await asyncio.sleep(min(self.MAX_BACKOFF_S, 0.25 * 2 ** min(failures, 6)) * random.uniform(0.5, 1))
                    continue
                if failures:
                    logger.warning("live feed: reading from Redis again after %d failed attempts", failures)
                    failures = 0
                self._take(reply)
        finally:
            if self._task is asyncio.current_task():
                self._task = None
            try:
                await reader.aclose()
            finally:
                self._ensure_reader()  # a member joined while this task was ending

    async def _after_outage(self, reader: aredis.Redis) -> None:
        """After Redis came back: if it lost its data (a new epoch), every group starts again from its newest
        entry and its members are told to reload, since what they missed cannot be replayed."""
        epoch = await ensure_epoch(reader)
        if epoch == self._epoch:
            return
        logger.warning("live feed: Redis lost its streams (new epoch); telling %d groups to resync", len(self._read))
        heads = await stream_heads(reader, list(self._read))
        self._epoch = epoch
        for group, head in heads.items():
            if group not in self._read:
                continue
            self._read[group] = self._delivered[group] = head
            self._pending.pop(group, None)
            for member in list(self._members.get(group, ())):
                member.live_resync(group, head, epoch)

    def _take(self, reply: Any) -> None:
        items = reply.items() if isinstance(reply, dict) else (reply or [])
        for key, entries in items:
            if key == self._wake_key:
                self._wake_id = entries[-1][0]
                continue
            group = key[len(STREAM_PREFIX) :]
            if group not in self._read or not entries:
                continue  # left meanwhile
            self._read[group] = entries[-1][0]
            self.entries_read += len(entries)
            events = [event for entry_id, fields in entries if (event := decode(entry_id, fields)) is not None]
            if events:
                self._pending.setdefault(group, []).extend(events)
                self._schedule(group)

    def _schedule(self, group: str) -> None:
        if group in self._timers:
            return  # a flush is already due at the end of the interval
        loop = asyncio.get_running_loop()
        due = self._next_flush.get(group, 0.0)
        if loop.time() >= due:
            self._flush(group)
        else:
            self._timers[group] = loop.call_at(due, self._flush, group)

    def _flush(self, group: str) -> None:
        self._timers.pop(group, None)
        events = self._pending.pop(group, None)
        members = self._members.get(group)
        if not events or not members:
            return
        self._next_flush[group] = asyncio.get_running_loop().time() + self.coalesce_s
        self._delivered[group] = events[-1]["seq"]
        frame = Frame.of(group, events)
        self.frames_flushed += 1
        for member in list(members):
            try:
                member.live_frame(frame)
            except Exception:  # noqa: BLE001 (one broken socket must not stop the others)
                logger.exception("live feed: could not queue a frame for a socket")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def hub() -> LiveHub:
    """The running event loop's hub (daphne runs one loop per process: one hub per process)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = LiveHub()
    return found
