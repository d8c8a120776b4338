"""Fixtures for the live feed: a real daphne on the test database, logged-in sockets, the small city's people."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from organisations.models import User
from tests.cases.factories import CaseWorld, case_world
from tests.command.servers import running_daphne

WAIT_S = 10.0  # the longest a test waits for a frame before it fails


@pytest.fixture(scope="session")
def daphne_port(django_db_setup: None, django_db_blocker: Any) -> Iterator[int]:
    """One daphne for the session; each test's data is committed (transactional tests) so daphne sees it."""
    with running_daphne() as port:
        yield port


@pytest.fixture
def world(transactional_db: None) -> CaseWorld:
    return case_world()


@pytest.fixture
def streams() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@dataclass
class LiveSocket:
    """A browser tab's socket, driven synchronously: every wait has a timeout, none is a sleep."""

    conn: ClientConnection
    hello: dict[str, Any]
    frames: list[dict[str, Any]] = field(default_factory=list)  # every frame received after the hello

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send(json.dumps(message))

    def resume(self, since: dict[str, str] | None = None, epoch: str | None = None) -> None:
        message: dict[str, Any] = {"type": "resume", "since": since or {}}
        if epoch is not None:
            message["epoch"] = epoch
        self.send(message)

    def next(self, timeout: float = WAIT_S) -> dict[str, Any]:
        frame = json.loads(self.conn.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def until(self, done: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """The frames received up to and including the first one `done` accepts."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching frame within {timeout}s; got {got}")
            try:
                frame = self.next(timeout=left)
            except TimeoutError:
                raise AssertionError(f"no matching frame within {timeout}s; got {got}") from None
            got.append(frame)
            if done(frame):
                return got

    def events(self, group: str, n: int, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """The next `n` events of `group` (failing if any other frame of that group, or more events, come)."""
        events: list[dict[str, Any]] = []

        def enough(frame: dict[str, Any]) -> bool:
            if frame.get("group") == group:
                assert frame["type"] == "events", frame
                events.extend(frame["events"])
            return len(events) >= n

        self.until(enough, timeout)
        assert len(events) == n, events
        return events

    def pong(self) -> list[dict[str, Any]]:
        """Everything received before the answer to a ping (the socket is drained up to now)."""
        self.send({"type": "ping"})
        return self.until(lambda frame: frame["type"] == "pong")[:-1]

    def closed_with(self, timeout: float = WAIT_S) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.next(timeout=deadline - time.monotonic())
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else 1006
            except TimeoutError:
                break
        raise AssertionError("the socket stayed open")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def live_socket(daphne_port: int) -> Iterator[Callable[..., LiveSocket]]:
    """`live_socket(user)` opens /ws/live/ as that user (None: anonymous) and reads the hello."""
    stack = contextlib.ExitStack()

    def open_socket(user: User | None, *, origin: str | None = None, hello: bool = True) -> LiveSocket:
        headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_cookie(user)}"} if user else {}
        conn = stack.enter_context(
            connect(
                f"ws://127.0.0.1:{daphne_port}/ws/live/",
                origin=origin or f"http://127.0.0.1:{daphne_port}",
                additional_headers=headers,
                open_timeout=WAIT_S,
                close_timeout=2,
            )
        )
        socket = LiveSocket(conn, {})
        if hello:
            socket.hello = json.loads(conn.recv(timeout=WAIT_S))
            assert socket.hello["type"] == "hello", socket.hello
        return socket

    with stack:
        yield open_socket
