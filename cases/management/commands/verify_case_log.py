"""Check every case's event log: the hash chain is intact and the row agrees with what the log says."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Prefetch

from cases.log import chain_problems, state_from_events
from cases.models import Case, CaseEvent


class Command(BaseCommand):
    help = "Recompute each case's event hash chain and state from its log, and report any tampering or mismatch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", dest="number", help="check only the case with this number")
        parser.add_argument("--chunk-size", type=int, default=2000, help="cases read per round trip")

    def handle(self, *args: Any, number: str | None = None, chunk_size: int = 2000, **options: Any) -> None:
        cases = Case.objects.order_by("pk").prefetch_related(
            Prefetch("events", queryset=CaseEvent.objects.order_by("seq"))
        )
        if number:
            cases = cases.filter(number=number)
            if not cases.exists():
                raise CommandError(f"no case numbered {number}")
        checked = events = bad = 0
        for case in cases.iterator(chunk_size=chunk_size):
            log = list(case.events.all())
            checked += 1
            events += len(log)
            problems = [f"tampered: {p}" for p in chain_problems(case, log)]
            problems += [f"mismatch: {m}" for m in state_from_events(log).mismatches(case)]
            if problems:
                bad += 1
                for problem in problems:
                    self.stdout.write(f"{case.number}: {problem}")
        summary = f"checked {checked} cases, {events} events: {bad} with problems"
        if bad:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
