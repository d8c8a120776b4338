"""`manage.py import_geo --layer LAYER FILE`: import districts, streets, communities, grid cells or components."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from geography.coords import GCJ02, WGS84
from geography.importing import LAYERS, FieldNames, ImportRejected, SourceError
from geography.services import geography_layer_import

MAX_LISTED = 50  # problems printed in the error; the rest are counted


class Command(BaseCommand):
    help = (
        "Import a geographic layer or city components from GeoJSON, a Shapefile or anything GDAL reads. "
        "Upserts by code; all or nothing unless --skip-invalid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--layer", required=True, choices=list(LAYERS), help="what the file holds")
        parser.add_argument("file", type=Path, help="GeoJSON, Shapefile (.shp) or another OGR source")
        parser.add_argument(
            "--srs",
            default=WGS84,
            help=f"coordinate system of the file: {WGS84} (default), {GCJ02} (Chinese web maps, converted "
            "to WGS 84), or EPSG:<code> to transform any system GDAL knows",
        )
        parser.add_argument(
            "--skip-invalid", action="store_true", help="import the valid features; write the rest to --rejects"
        )
        parser.add_argument(
            "--rejects", type=Path, help="where --skip-invalid writes rejects (default: FILE.rejects.geojson)"
        )
        parser.add_argument("--source-layer", help="layer name or index inside the file (default: the first)")
        for attr, default in FieldNames.DEFAULTS.items():
            option = "surveyed" if attr == "surveyed_on" else attr.replace("_", "-")
            parser.add_argument(f"--{option}-field", dest=f"{attr}_field", help=f"attribute name (default {default})")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.exists():
            raise CommandError(_("%(path)s does not exist") % {"path": path})
        srs = options["srs"] if options["srs"].lower() not in (WGS84, GCJ02) else options["srs"].lower()
        fields = FieldNames(**{attr: options[f"{attr}_field"] for attr in FieldNames.DEFAULTS})
        verbosity = options["verbosity"]
        show_progress = verbosity >= 1 and sys.stderr.isatty()
        try:
            report = geography_layer_import(
                layer=options["layer"],
                path=path,
                srs=srs,
                skip_invalid=options["skip_invalid"],
                rejects_path=options["rejects"],
                fields=fields,
                source_layer=options["source_layer"],
                progress_file=sys.stderr if show_progress else None,
            )
        except SourceError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except ImportRejected as exc:
            lines = [str(r) for r in exc.rejects[:MAX_LISTED]]
            if len(exc.rejects) > MAX_LISTED:
                lines.append(_("... and %(n)s more") % {"n": len(exc.rejects) - MAX_LISTED})
            raise CommandError(
                _(
                    "%(path)s: %(rejected)s of %(read)s features are invalid; nothing was imported "
                    "(--skip-invalid imports the rest):\n%(problems)s"
                )
                % {"path": path, "rejected": len(exc.rejects), "read": exc.read, "problems": "\n".join(lines)}
            ) from exc
        if verbosity >= 1:
            self.stdout.write(
                _("%(layer)s: %(read)s read, %(created)s created, %(updated)s updated, %(unchanged)s unchanged, ")
                % {
                    "layer": report.layer,
                    "read": report.read,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                }
                + _("%(rejected)s rejected") % {"rejected": len(report.rejects)}
            )
            if report.rejects_path is not None:
                self.stdout.write(
                    _("wrote %(n)s rejected features to %(path)s")
                    % {"n": len(report.rejects), "path": report.rejects_path}
                )
            if verbosity >= 2:
                for reject in report.rejects:
                    self.stdout.write(f"  {reject}")
