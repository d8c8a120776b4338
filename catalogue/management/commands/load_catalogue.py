"""`manage.py load_catalogue`: load (or re-sync) the standard classification from catalogue/data/."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue.services import catalogue_load_standard
from catalogue.standard import CatalogueDataError, standard_kinds


class Command(BaseCommand):
    help = "Load the standard catalogue (GB/T 30428) from catalogue/data/. Idempotent; -v 0 prints nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            action="append",
            dest="kinds",
            choices=standard_kinds(),
            help="load only this kind (repeatable); default: every kind that has a data file",
        )

    def handle(self, *args: Any, kinds: list[str] | None = None, verbosity: int = 1, **options: Any) -> None:
        try:
            result = catalogue_load_standard(kinds=kinds)
        except CatalogueDataError as exc:
            raise CommandError(str(exc)) from exc
        if verbosity >= 1:
            self.stdout.write(
                f"catalogue ({', '.join(kinds or standard_kinds())}): created {result.created}, "
                f"updated {result.updated}, unchanged {result.unchanged}, deleted {result.deleted}, "
                f"deactivated {result.deactivated}"
            )
