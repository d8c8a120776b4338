"""Writes on the catalogue: loading the standard classification and its case rules from the data files."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from catalogue.models import MajorClass, MinorClass, TimeLimit
from catalogue.standard import ClassRules, MajorRow, catalogue_data_read, catalogue_rules_read, standard_kinds

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

    Upserts by (kind, code): the files own each class's code and names, and are applied on every run.
    The case rules (criteria, department kind, self-handling, duplicate radius, time limits) are only
    seeded: a minor class gets them from rules/<kind>.csv when it is created, or on the first load after
    it existed without them (`rules_seeded_at` is empty), and a time limit only when its (urgency, stage)
    pair is missing. From then on they belong to the administrators, like `is_active`: a later load,
    which `make run` repeats, never overwrites an edit made in the admin. To take a changed rules file
    for one class, an administrator edits the class (or clears its `rules_seeded_at` in the shell).

    A class that has left the data is deleted if nothing uses it, otherwise kept and deactivated, so no
    case or component loses its class. Idempotent: a second run reports nothing created, updated,
    deleted or deactivated.
    """
    kinds = standard_kinds() if kinds is None else list(dict.fromkeys(kinds))
    # Read every file before the first write, so a bad file changes nothing.
    data = {
        kind: (catalogue_data_read(kind=kind, data_dir=data_dir), catalogue_rules_read(kind=kind, data_dir=data_dir))
        for kind in kinds
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOAD_LOCK_KEY])
    result = LoadResult()
    for kind, (rows, rules) in data.items():
        result += _load_kind(kind=kind, rows=rows, rules=rules)
    return result


def _load_kind(*, kind: str, rows: list[MajorRow], rules: dict[str, ClassRules]) -> LoadResult:
    result = LoadResult()
    majors = {major.code: major for major in MajorClass.objects.filter(kind=kind)}
    minors_by_major: dict[int, dict[str, MinorClass]] = {}
    for minor in MinorClass.objects.filter(major__kind=kind):
        minors_by_major.setdefault(minor.major_id, {})[minor.code] = minor
    limits_present: set[tuple[int, str, str]] = set(
        TimeLimit.objects.filter(minor_class__major__kind=kind).values_list("minor_class_id", "urgency", "stage")
    )
    limits_missing: list[TimeLimit] = []
    now = timezone.now()

    for row in rows:
        major = majors.pop(row.code, None)
        if major is None:
            major = MajorClass.objects.create(kind=kind, code=row.code, name=row.name, name_en=row.name_en)
            result.created += 1
        else:
            result += _sync_names(major, name=row.name, name_en=row.name_en)
        existing = minors_by_major.pop(major.pk, {})
        for minor_row in row.minors:
            class_rules = rules[minor_row.full_code(row.code)]
            minor = existing.pop(minor_row.code, None)
            if minor is None:
                minor = MinorClass.objects.create(
                    major=major,
                    code=minor_row.code,
                    name=minor_row.name,
                    name_en=minor_row.name_en,
                    rules_seeded_at=now,
                    **_rule_fields(class_rules),
                )
                result.created += 1
                limits_missing += _missing_limits(minor, rules=class_rules, present=limits_present)
            else:
                changed = _sync_minor(minor, name=minor_row.name, name_en=minor_row.name_en, rules=class_rules, now=now)
                missing = _missing_limits(minor, rules=class_rules, present=limits_present)
                limits_missing += missing
                result += LoadResult(updated=1) if changed or missing else LoadResult(unchanged=1)
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
    TimeLimit.objects.bulk_create(limits_missing)
    return result


def _rule_fields(rules: ClassRules) -> dict[str, object]:
    return {
        "registration_criteria": rules.registration_criteria,
        "closure_criteria": rules.closure_criteria,
        "default_responsible_kind": rules.default_responsible_kind,
        "self_handle_allowed": rules.self_handle_allowed,
        "duplicate_radius_m": rules.duplicate_radius_m,
    }


def _missing_limits(minor: MinorClass, *, rules: ClassRules, present: set[tuple[int, str, str]]) -> list[TimeLimit]:
    """Limits for the (urgency, stage) pairs the class lacks; an existing limit belongs to the administrators."""
    return [
        TimeLimit(minor_class=minor, urgency=urgency, stage=stage, amount=limit.amount, unit=limit.unit)
        for (urgency, stage), limit in rules.time_limits.items()
        if (minor.pk, urgency, stage) not in present
    ]


def _sync_minor(minor: MinorClass, *, name: str, name_en: str, rules: ClassRules, now: datetime) -> bool:
    """Names always follow the data; the rules only once, for a class that never had them. True if it changed."""
    changed = [field for field, value in (("name", name), ("name_en", name_en)) if getattr(minor, field) != value]
    minor.name, minor.name_en = name, name_en
    if minor.rules_seeded_at is None:
        for field, value in _rule_fields(rules).items():
            setattr(minor, field, value)
        minor.rules_seeded_at = now
        changed += [*_rule_fields(rules), "rules_seeded_at"]
    if changed:
        minor.save(update_fields=changed)
    return bool(changed)


def _sync_names(obj: MajorClass, *, name: str, name_en: str) -> LoadResult:
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
