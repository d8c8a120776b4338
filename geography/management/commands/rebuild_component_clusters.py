"""`manage.py rebuild_component_clusters [--bbox W,S,E,N]`: count the components layer's cluster pyramid again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from geography.tiles import component_clusters_rebuild


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(part) for part in raw.split(","))
    except ValueError as error:
        raise CommandError(_("--bbox takes four numbers: west,south,east,north (degrees).")) from error
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise CommandError(_("--bbox must be west,south,east,north with west <= east and south <= north."))
    return west, south, east, north


class Command(BaseCommand):
    help = (
        "Count the components map layer's cluster pyramid again, everywhere or within a box (after components "
        "there were imported, moved or removed). Map readers see the old counts until it is done."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bbox", help="only the cells over west,south,east,north (WGS 84 degrees)")

    def handle(self, *args: Any, **options: Any) -> None:
        bbox = parse_bbox(options["bbox"]) if options["bbox"] else None
        result = component_clusters_rebuild(bbox=bbox)
        self.stdout.write(
            _("%(cells)s cluster cells and %(totals)s city-wide cells for %(components)s components in %(seconds).1f s")
            % {
                "cells": f"{result.cells:,}",
                "totals": f"{result.totals:,}",
                "components": f"{result.components:,}",
                "seconds": result.seconds,
            }
        )
