"""The demo history as `make run` builds it: committed chunks built by forked worker processes, each on its own
database connection; a chunk that fails is rolled back whole and built by the next run, the others are kept."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command

from cases import demo, services
from cases.models import Case, CaseEvent

SMALL_CITY = ["--core-scale", "0.1", "--components", "0", "--cases", "0"]
CHUNK = 20  # three chunks of 60 cases, so both workers get work


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_two_workers_build_the_chunks_and_a_failed_chunk_is_built_by_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run("seed_demo", *SMALL_CITY)
    monkeypatch.setattr(demo, "CHUNK_CASES", CHUNK)
    real_build, real_dispatch = demo._chunk_build, services.case_dispatch

    def build_failing_chunk_1(shared: Any, chunk: Any) -> tuple[int, int]:
        # Runs in a worker process (forked after the patch): the second chunk fails half-way through.
        if chunk.index == 1:
            calls: list[int] = []

            def dispatch(**kwargs: Any) -> CaseEvent:
                calls.append(1)
                if len(calls) == 5:
                    raise RuntimeError("the database went away")
                return real_dispatch(**kwargs)

            services.case_dispatch = dispatch  # only in this worker
        return real_build(shared, chunk)

    monkeypatch.setattr(demo, "_chunk_build", build_failing_chunk_1)

    with pytest.raises(RuntimeError, match="the database went away"):
        demo.case_history_build(count=3 * CHUNK, workers=2)

    # Whole chunks only, never the failed one; no event without its case.
    kept = Case.objects.count()
    assert kept in (CHUNK, 2 * CHUNK)
    assert CaseEvent.objects.exclude(case__in=Case.objects.all()).count() == 0

    monkeypatch.setattr(demo, "_chunk_build", real_build)
    result = demo.case_history_build(count=3 * CHUNK, workers=2)

    assert (result.created, result.workers, Case.objects.count()) == (3 * CHUNK - kept, 2, 3 * CHUNK)
    assert result.events == CaseEvent.objects.filter(case__in=Case.objects.order_by("-id")[: result.created]).count()
    assert ": 0 with problems" in run("verify_case_log")
    # Without components every case is reported at a point of its own: no chunk was built twice.
    locations = Counter((point.x, point.y) for point in Case.objects.values_list("location", flat=True))
    assert max(locations.values()) == 1
    assert demo.case_history_build(count=3 * CHUNK, workers=2).skipped
