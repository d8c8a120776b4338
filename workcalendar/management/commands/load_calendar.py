"""`manage.py load_calendar [--year Y ...]`: fill the working calendar from chinese-calendar (this year and next)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from workcalendar.models import CALENDAR_TIME_ZONE
from workcalendar.services import PACKAGE, calendar_load_year


def _year(value: str) -> int:
    year = int(value)
    if not 1900 <= year <= 2200:
        raise ValueError(value)
    return year


class Command(BaseCommand):
    help = (
        "Load every day of the given years into the working calendar from the chinese-calendar package. "
        "Idempotent; days an administrator set are kept. A year the package does not know yet is loaded "
        "as weekends only, with a warning."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--year",
            dest="years",
            type=_year,
            action="extend",
            nargs="+",
            help="year(s) to load (repeatable); default: the current and the next year",
        )

    def handle(self, *args: Any, years: list[int] | None = None, verbosity: int = 1, **options: Any) -> None:
        if not years:
            this_year = timezone.now().astimezone(CALENDAR_TIME_ZONE).year
            years = [this_year, this_year + 1]
        for year in dict.fromkeys(years):
            result = calendar_load_year(year=year)
            if not result.official:
                # Loud on purpose: without the year's notice, holidays count as working days and make-up
                # Saturdays as days off, so deadlines around them are wrong until someone acts.
                self.stderr.write(
                    self.style.WARNING(
                        f"WARNING: {PACKAGE} {result.package_version} has no holiday data for {year}: "
                        f"loaded {year} as weekends only (no public holidays, no make-up working days). "
                        f"Enter {year}'s holidays in the admin (Working calendar > Calendar days) or upgrade "
                        f"{PACKAGE} and run load_calendar --year {year} again."
                    )
                )
            if verbosity >= 1:
                source = f"{PACKAGE} {result.package_version}" if result.official else "weekends only"
                self.stdout.write(
                    f"calendar {year} ({source}): created {result.created}, updated {result.updated}, "
                    f"unchanged {result.unchanged}, kept {result.kept} set by administrators"
                )
