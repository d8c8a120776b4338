"""`manage.py simulate_cases`: keep new reports arriving through case_report at a steady rate (the live demo)."""

from __future__ import annotations

import random
import time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import demo
from cases.services import case_report


class Command(BaseCommand):
    help = "File random but realistic reports (sources, classes, places as in the demo history) at --rate per second."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=0.3, help="reports per second (default 0.3)")
        parser.add_argument("--count", type=int, default=0, help="stop after this many reports (default: never)")
        parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each run)")

    def handle(self, *args: Any, rate: float, count: int, seed: int | None, **options: Any) -> None:
        if rate <= 0:
            raise CommandError("--rate must be positive")
        rng = random.Random(seed)
        catalogue = demo.catalogue_weighted()
        spots = demo.spots_sample(count=200, rng=rng, seed=rng.randrange(1, 2**31))
        if not spots or not catalogue.classes:
            raise CommandError("no demo city here: run `manage.py seed_demo` first")
        cast = demo.cast_build(street_ids=sorted({s.street_id for s in spots} | catalogue.street_ids()))
        interval = 1 / rate
        filed = 0
        next_at = time.monotonic()
        try:
            while not count or filed < count:
                if not spots:
                    spots = demo.spots_sample(count=200, rng=rng, seed=rng.randrange(1, 2**31))
                minor = catalogue.pick(rng)
                spot = catalogue.spot_for(minor, spots.pop(), rng)
                fields = demo.report_fields(source=demo.source_pick(rng), minor=minor, spot=spot, cast=cast, rng=rng)
                try:
                    case = case_report(**fields)
                except (ValidationError, PermissionDenied) as exc:
                    # A refused report is part of the show too; say why and go on.
                    self.stderr.write(f"refused: {exc}")
                else:
                    filed += 1
                    self.stdout.write(
                        f"{case.number}  {case.get_source_display()}  {minor.name}  {case.get_status_display()}"
                    )
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
        except KeyboardInterrupt:
            pass
        self.stdout.write(self.style.SUCCESS(f"filed {filed} reports"))
