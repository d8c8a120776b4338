"""The standard catalogue's data files and their validating readers.

catalogue/data/<kind>.csv holds each kind's codes and names; catalogue/data/rules/<kind>.csv the case rules of
its classes (criteria, department kind, self-handling, duplicate radius, handling limits), as defaults per major
class with per-class overrides; catalogue/data/rules/stages.csv the limits of the other stages per urgency.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from catalogue.models import ClassKind, MajorClass, MinorClass, ResponsibleKind, Stage, Urgency
from workcalendar.units import CALENDAR_UNITS, TimeUnit

DATA_DIR = Path(__file__).resolve().parent / "data"
RULES_DIR = "rules"  # under the data directory; one file per kind with the same name as the names file
STAGES_FILE = "stages.csv"

# One file per kind of class (and the same name under rules/).
DATA_FILES: dict[str, str] = {
    ClassKind.COMPONENT: "components.csv",
    ClassKind.EVENT: "events.csv",
    ClassKind.SERVICE: "services.csv",
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


# --- the case rules of each minor class (rules/<kind>.csv and rules/stages.csv)

RULES_HEADER = [
    "code",
    "responsible",
    "self_handle",
    "radius_m",
    "handle_normal",
    "handle_urgent",
    "handle_emergency",
    "registration",
    "closure",
]
STAGES_HEADER = ["urgency", *(stage for stage in Stage.values if stage != Stage.HANDLE)]
_HANDLE_COLUMNS = {
    "handle_normal": Urgency.NORMAL,
    "handle_urgent": Urgency.URGENT,
    "handle_emergency": Urgency.EMERGENCY,
}
_YES_NO = {"yes": True, "no": False}
_LIMIT = re.compile(r"^([1-9][0-9]*) ([a-z_]+)$")


@dataclass(frozen=True)
class LimitValue:
    amount: int
    unit: str  # a TimeUnit value


@dataclass(frozen=True)
class ClassRules:
    """The resolved rules of one minor class: its major class's defaults with its own overrides applied."""

    registration_criteria: str
    closure_criteria: str
    default_responsible_kind: str
    self_handle_allowed: bool
    duplicate_radius_m: int
    time_limits: dict[tuple[str, str], LimitValue]  # (urgency, stage) -> limit, every pair present


def stage_limits_read(*, data_dir: Path | None = None) -> dict[tuple[str, str], LimitValue]:
    """The verify, register, dispatch and check limits per urgency, shared by every class."""
    path = (data_dir or DATA_DIR) / RULES_DIR / STAGES_FILE
    limits: dict[tuple[str, str], LimitValue] = {}
    for line_no, record in _csv_records(path, STAGES_HEADER):
        urgency = record["urgency"]
        where = f"{path}:{line_no} ({urgency})"
        if urgency not in Urgency.values:
            raise CatalogueDataError(f"{where}: urgency must be one of {Urgency.values}")
        if any(key[0] == urgency for key in limits):
            raise CatalogueDataError(f"{where}: urgency {urgency} appears twice")
        for stage in STAGES_HEADER[1:]:
            limits[(urgency, stage)] = _limit(record[stage], urgency=urgency, where=f"{where} {stage}")
    missing = [urgency for urgency in Urgency.values if (urgency, Stage.VERIFY) not in limits]
    if missing:
        raise CatalogueDataError(f"{path}: no limits for urgency {', '.join(missing)}")
    return limits


def catalogue_rules_read(*, kind: str, data_dir: Path | None = None) -> dict[str, ClassRules]:
    """The rules of every minor class of `kind`, by full code (e.g. "0101"), validated against the names file.

    A 2-digit row gives its major class's defaults and must fill every column; its criteria may name the
    class as {name}. A 4-digit row overrides the cells it fills. Every major class needs a row.
    """
    kind = str(kind)
    majors = catalogue_data_read(kind=kind, data_dir=data_dir)
    stage_limits = stage_limits_read(data_dir=data_dir)
    path = (data_dir or DATA_DIR) / RULES_DIR / DATA_FILES[kind]
    names = {major.code: {minor.code: minor.name for minor in major.minors} for major in majors}

    major_rows: dict[str, dict[str, str]] = {}
    minor_rows: dict[str, dict[str, str]] = {}
    for line_no, record in _csv_records(path, RULES_HEADER):
        code = record["code"]
        where = f"{path}:{line_no} ({code})"
        if _MAJOR_CODE.match(code):
            if code not in names:
                raise CatalogueDataError(f"{where}: major class {code} is not in {DATA_FILES[kind]}")
            if code in major_rows:
                raise CatalogueDataError(f"{where}: major class {code} appears twice")
            empty = [column for column in RULES_HEADER if not record[column]]
            if empty:
                raise CatalogueDataError(f"{where}: a major class row fills every column; empty: {', '.join(empty)}")
            target = major_rows
        elif _MINOR_CODE.match(code):
            if code[2:] not in names.get(code[:2], {}):
                raise CatalogueDataError(f"{where}: minor class {code} is not in {DATA_FILES[kind]}")
            if code in minor_rows:
                raise CatalogueDataError(f"{where}: minor class {code} appears twice")
            target = minor_rows
        else:
            raise CatalogueDataError(f"{where}: a code is 2 digits (major) or 4 digits (major + minor), 01-99 each")
        _check_rule_cells(record, where=where)
        target[code] = record | {"_where": where}

    missing = [code for code in names if code not in major_rows]
    if missing:
        raise CatalogueDataError(f"{path}: no row for major class {', '.join(missing)}")

    rules: dict[str, ClassRules] = {}
    for major_code, minors in names.items():
        for minor_code, name in minors.items():
            full_code = f"{major_code}{minor_code}"
            own = minor_rows.get(full_code, {})
            cell = {column: own.get(column) or major_rows[major_code][column] for column in RULES_HEADER[1:]}
            where = own.get("_where") or major_rows[major_code]["_where"]
            limits = dict(stage_limits)
            for column, urgency in _HANDLE_COLUMNS.items():
                limits[(str(urgency), str(Stage.HANDLE))] = _limit(
                    cell[column], urgency=urgency, where=f"{where} {column}"
                )
            rules[full_code] = ClassRules(
                registration_criteria=cell["registration"].format(name=name),
                closure_criteria=cell["closure"].format(name=name),
                default_responsible_kind=cell["responsible"],
                self_handle_allowed=_YES_NO[cell["self_handle"]],
                duplicate_radius_m=int(cell["radius_m"]),
                time_limits=limits,
            )
    return rules


def _csv_records(path: Path, header: list[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CatalogueDataError(f"{path}: file not found") from exc
    reader = csv.reader(text.splitlines())
    found = next(reader, None)
    if found != header:
        raise CatalogueDataError(f"{path}:1: header must be {','.join(header)}, got {found}")
    records = []
    for line_no, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise CatalogueDataError(f"{path}:{line_no}: expected {len(header)} columns, got {len(record)}")
        records.append((line_no, dict(zip(header, (cell.strip() for cell in record), strict=True))))
    return records


def _check_rule_cells(record: dict[str, str], *, where: str) -> None:
    """Check the cells a row fills, so a typo fails here with its line rather than half-way through a load."""
    if record["responsible"] and record["responsible"] not in ResponsibleKind.values:
        raise CatalogueDataError(f"{where}: responsible must be one of {ResponsibleKind.values}")
    if record["self_handle"] and record["self_handle"] not in _YES_NO:
        raise CatalogueDataError(f"{where}: self_handle must be yes or no")
    if record["radius_m"] and not record["radius_m"].isdigit():
        raise CatalogueDataError(f"{where}: radius_m must be a whole number of metres (0 turns the check off)")
    for column, urgency in _HANDLE_COLUMNS.items():
        if record[column]:
            _limit(record[column], urgency=urgency, where=f"{where} {column}")
    for column in ("registration", "closure"):
        try:
            record[column].format(name="")
        except (KeyError, IndexError, ValueError) as exc:
            raise CatalogueDataError(f"{where}: {column} may only use {{name}} as a placeholder") from exc


def _limit(text: str, *, urgency: str, where: str) -> LimitValue:
    match = _LIMIT.match(text)
    if match is None or match[2] not in TimeUnit.values:
        raise CatalogueDataError(
            f"{where}: a limit is '<amount> <unit>' with a unit in {TimeUnit.values}, got {text!r}"
        )
    if urgency == Urgency.EMERGENCY and match[2] not in CALENDAR_UNITS:
        raise CatalogueDataError(
            f"{where}: emergency limits are counted in calendar_hours or calendar_minutes, got {text!r}"
        )
    return LimitValue(amount=int(match[1]), unit=match[2])
