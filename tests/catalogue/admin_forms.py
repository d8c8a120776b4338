"""The POST body of a minor class's admin change form, with its time-limit inline, as the page would send it."""

from __future__ import annotations

from typing import Any

from catalogue.models import MinorClass

INLINE = "time_limits"


def minor_class_form_data(
    minor: MinorClass, *, limits: dict[tuple[str, str], tuple[int, str]] | None = None, **fields: Any
) -> dict[str, Any]:
    """Every editable field of `minor` as it is now, with `fields` and the (urgency, stage) `limits` changed.

    Unchecked checkboxes are left out, as a browser does.
    """
    values = {
        "is_active": minor.is_active,
        "registration_criteria": minor.registration_criteria,
        "closure_criteria": minor.closure_criteria,
        "default_responsible_kind": minor.default_responsible_kind,
        "self_handle_allowed": minor.self_handle_allowed,
        "duplicate_radius_m": minor.duplicate_radius_m,
    } | fields
    data: dict[str, Any] = {}
    for name, value in values.items():
        if value is True:
            data[name] = "on"
        elif value is not False:
            data[name] = value
    rows = list(minor.time_limits.order_by("pk"))
    data |= {
        f"{INLINE}-TOTAL_FORMS": len(rows),
        f"{INLINE}-INITIAL_FORMS": len(rows),
        f"{INLINE}-MIN_NUM_FORMS": 0,
        f"{INLINE}-MAX_NUM_FORMS": 1000,
    }
    for i, row in enumerate(rows):
        amount, unit = (limits or {}).get((row.urgency, row.stage), (row.amount, row.unit))
        data |= {
            f"{INLINE}-{i}-id": row.pk,
            f"{INLINE}-{i}-minor_class": minor.pk,
            f"{INLINE}-{i}-amount": amount,
            f"{INLINE}-{i}-unit": unit,
        }
    return data
