"""The server `make run` starts (daphne on the ASGI app) serves pages and static files by itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def daphne_url(transactional_db) -> Iterator[str]:
    port = _free_port()
    db = settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="qingdao_ops.settings",
        DJANGO_DEBUG="true",
        DATABASE_URL=f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "qingdao_ops.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"daphne did not start: {proc.stdout.read().decode(errors='replace')}")
            time.sleep(0.1)  # polling for the port to open, not timing behaviour
    yield f"http://127.0.0.1:{port}"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def test_daphne_serves_the_login_page_in_chinese_and_its_stylesheet(daphne_url):
    with urllib.request.urlopen(f"{daphne_url}/accounts/login/", timeout=10) as response:
        page = response.read().decode()
        assert response.status == 200
    assert 'lang="zh-hans"' in page

    with urllib.request.urlopen(f"{daphne_url}/static/css/platform.css", timeout=10) as response:
        assert response.status == 200
        assert "font" in response.read().decode()


def test_daphne_sends_anonymous_visitors_of_the_home_page_to_login(daphne_url):
    request = urllib.request.Request(f"{daphne_url}/", method="GET")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=10)
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"].startswith("/accounts/login/")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None
