"""The benchmark database: the demo city's geography at full size (about 53,000 grid cells)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command, get_commands


@pytest.fixture(scope="session")
def bench_city(django_db_setup, django_db_blocker) -> str:
    """Seed the (per-run) test database once; the test database is dropped when the run ends."""
    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        if "load_catalogue" not in get_commands():
            # Components are not needed here; only the catalogue stage calls this command.
            patch.setattr("geography.management.commands.seed_demo.call_command", lambda *a, **k: None)
        out = io.StringIO()
        call_command("seed_demo", "--components", "0", "--cases", "2000", stdout=out)
        return out.getvalue()
