"""Writes on the catalogue: loading the standard classification from its data files."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.db.models import ProtectedError, RestrictedError

from catalogue.models import MajorClass, MinorClass
from catalogue.standard import MajorRow, catalogue_data_read, standard_kinds

# Two loads at once (make run while a test seeds, two workers) would race on the unique constraints;
# a transaction-scoped advisory lock makes the second wait and then find nothing to do.
_LOAD_LOCK_KEY = zlib.crc32(b"catalogue_load_standard")


@dataclass
class LoadResult:
    """What a load did, counting major and minor classes together."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0  # gone from the data and used by nothing
    deactivated: int = 0  # gone from the data but still used: kept, marked inactive

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(
            created=self.created + other.created,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            deleted=self.deleted + other.deleted,
            deactivated=self.deactivated + other.deactivated,
        )


@transaction.atomic
def catalogue_load_standard(*, kinds: Iterable[str] | None = None, data_dir: Path | None = None) -> LoadResult:
    """Bring the catalogue in line with the data files of `kinds` (default: every kind that has one).

    Upserts by (kind, code): the files own each class's code and names; `is_active` and any other
    field belong to the administrators and are left alone. A class that has left the data is deleted
    if nothing uses it, otherwise kept and deactivated, so no case or component loses its class.
    Idempotent: a second run reports nothing created, updated, deleted or deactivated.
    """
    kinds = standard_kinds() if kinds is None else list(dict.fromkeys(kinds))
    # Read every file before the first write, so a bad file changes nothing.
    data = {kind: catalogue_data_read(kind=kind, data_dir=data_dir) for kind in kinds}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOAD_LOCK_KEY])
    result = LoadResult()
    for kind, rows in data.items():
        result += _load_kind(kind=kind, rows=rows)
    return result


def _load_kind(*, kind: str, rows: list[MajorRow]) -> LoadResult:
    result = LoadResult()
    majors = {major.code: major for major in MajorClass.objects.filter(kind=kind)}
    minors_by_major: dict[int, dict[str, MinorClass]] = {}
    for minor in MinorClass.objects.filter(major__kind=kind):
        minors_by_major.setdefault(minor.major_id, {})[minor.code] = minor

    for row in rows:
        major = majors.pop(row.code, None)
        if major is None:
            major = MajorClass.objects.create(kind=kind, code=row.code, name=row.name, name_en=row.name_en)
            result.created += 1
        else:
            result += _sync_names(major, name=row.name, name_en=row.name_en)
        existing = minors_by_major.pop(major.pk, {})
        for minor_row in row.minors:
            minor = existing.pop(minor_row.code, None)
            if minor is None:
                MinorClass.objects.create(
                    major=major, code=minor_row.code, name=minor_row.name, name_en=minor_row.name_en
                )
                result.created += 1
            else:
                result += _sync_names(minor, name=minor_row.name, name_en=minor_row.name_en)
        for minor in existing.values():
            result += _retire_minor(minor)

    # Major classes that left the data: retire their minors first, then the major if it is now unused.
    for major in majors.values():
        for minor in minors_by_major.pop(major.pk, {}).values():
            result += _retire_minor(minor)
        if _delete_if_unused(major):
            result.deleted += 1
        else:
            result.unchanged += 1  # MajorClass has no active flag; its minors carry the deactivation
    return result


def _sync_names(obj: MajorClass | MinorClass, *, name: str, name_en: str) -> LoadResult:
    changed = [field for field, value in (("name", name), ("name_en", name_en)) if getattr(obj, field) != value]
    if not changed:
        return LoadResult(unchanged=1)
    obj.name, obj.name_en = name, name_en
    obj.save(update_fields=changed)
    return LoadResult(updated=1)


def _retire_minor(minor: MinorClass) -> LoadResult:
    if _delete_if_unused(minor):
        return LoadResult(deleted=1)
    if not minor.is_active:
        return LoadResult(unchanged=1)
    minor.is_active = False
    minor.save(update_fields=["is_active"])
    return LoadResult(deactivated=1)


def _delete_if_unused(obj: MajorClass | MinorClass) -> bool:
    """Delete `obj` unless a PROTECT/RESTRICT reference holds it (components, cases, anything added later)."""
    try:
        with transaction.atomic():  # a savepoint: a refused delete must not poison the load's transaction
            obj.delete()
    except (ProtectedError, RestrictedError):
        return False
    return True
