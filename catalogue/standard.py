"""The standard catalogue's data files (one CSV per kind under catalogue/data/) and their validating reader."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from catalogue.models import ClassKind, MajorClass, MinorClass

DATA_DIR = Path(__file__).resolve().parent / "data"

# One file per kind of class. The event and service files join this table when they are written;
# nothing else in the loader needs to change for them.
DATA_FILES: dict[str, str] = {
    ClassKind.COMPONENT: "components.csv",
}

HEADER = ["code", "name", "name_en", "origin"]
# "standard": named in GB/T 30428.2; "local": the reference city's own extension. Provenance for readers only.
ORIGINS = {"standard", "local"}
_MAJOR_CODE = re.compile(r"^(0[1-9]|[1-9][0-9])$")
_MINOR_CODE = re.compile(r"^(0[1-9]|[1-9][0-9])(0[1-9]|[1-9][0-9])$")
# Checked here so that a long name fails with its line number, not as a database error mid-load.
_NAME_MAX = min(model._meta.get_field("name").max_length for model in (MajorClass, MinorClass))
_NAME_EN_MAX = min(model._meta.get_field("name_en").max_length for model in (MajorClass, MinorClass))


class CatalogueDataError(ValueError):
    """A data file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class MinorRow:
    code: str  # two digits, within its major class
    name: str
    name_en: str
    origin: str

    def full_code(self, major_code: str) -> str:
        return f"{major_code}{self.code}"


@dataclass(frozen=True)
class MajorRow:
    code: str
    name: str
    name_en: str
    origin: str
    minors: tuple[MinorRow, ...]


def standard_kinds() -> list[str]:
    """The kinds that have a data file, in the catalogue's order."""
    return [kind for kind in ClassKind.values if kind in DATA_FILES]


def catalogue_data_read(*, kind: str, data_dir: Path | None = None) -> list[MajorRow]:
    """Read and validate one kind's file: major rows have 2-digit codes, minor rows 4 (major + minor)."""
    kind = str(kind)  # a ClassKind member or its value; messages show the value
    if kind not in DATA_FILES:
        known = ", ".join(standard_kinds())
        raise CatalogueDataError(f"no data file for kind {kind!r} (kinds with data: {known})")
    path = (data_dir or DATA_DIR) / DATA_FILES[kind]
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM from spreadsheet exports
    except FileNotFoundError as exc:
        raise CatalogueDataError(f"{path}: file not found") from exc

    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header != HEADER:
        raise CatalogueDataError(f"{path}:1: header must be {','.join(HEADER)}, got {header}")

    majors: dict[str, dict] = {}
    for line_no, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(HEADER):
            raise CatalogueDataError(f"{path}:{line_no}: expected {len(HEADER)} columns, got {len(record)}")
        code, name, name_en, origin = (cell.strip() for cell in record)
        where = f"{path}:{line_no} ({code})"
        if not name:
            raise CatalogueDataError(f"{where}: the Chinese name is empty")
        if len(name) > _NAME_MAX or len(name_en) > _NAME_EN_MAX:
            raise CatalogueDataError(f"{where}: a name is longer than the database allows")
        if origin not in ORIGINS:
            raise CatalogueDataError(f"{where}: origin must be one of {sorted(ORIGINS)}, got {origin!r}")
        if _MAJOR_CODE.match(code):
            if code in majors:
                raise CatalogueDataError(f"{where}: major class {code} appears twice")
            majors[code] = {"row": (code, name, name_en, origin), "minors": {}}
        elif _MINOR_CODE.match(code):
            major = majors.get(code[:2])
            if major is None:
                raise CatalogueDataError(f"{where}: minor class before (or without) its major class {code[:2]}")
            if code[2:] in major["minors"]:
                raise CatalogueDataError(f"{where}: minor class {code} appears twice")
            major["minors"][code[2:]] = MinorRow(code=code[2:], name=name, name_en=name_en, origin=origin)
        else:
            raise CatalogueDataError(f"{where}: a code is 2 digits (major) or 4 digits (major + minor), 01-99 each")

    rows = []
    for major in majors.values():
        code, name, name_en, origin = major["row"]
        rows.append(MajorRow(code, name, name_en, origin, minors=tuple(major["minors"].values())))
    return rows
