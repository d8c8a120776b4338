"""`operating_mode` in every template: the mode in force for the banner (templates/partials/mode_banner.html).

Read from the per-process cache (cases.modes), so a page costs no query for it while the cache is fresh.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from cases.alerts import Mode
from cases.modes import ModeDefinition, current_change, definition_of


@dataclass(frozen=True)
class ModeBanner:
    """What the banner shows: the mode, its colour and description, and since when."""

    definition: ModeDefinition
    since: dt.datetime | None

    @property
    def mode(self) -> str:
        return self.definition.mode

    @property
    def label(self) -> str:
        return self.definition.label

    @property
    def is_normal(self) -> bool:
        return self.definition.is_normal

    @property
    def colour(self) -> str:
        return self.definition.banner_colour

    @property
    def description(self) -> str:
        return self.definition.description

    @property
    def time_limit_percent(self) -> int:
        return self.definition.time_limit_percent

    @property
    def marks_new_cases_key(self) -> bool:
        return self.definition.marks_new_cases_key


def mode_banner() -> ModeBanner:
    change = current_change()
    mode = change.mode if change is not None else Mode.NORMAL
    return ModeBanner(definition=definition_of(mode), since=change.set_at if change is not None else None)


def operating_mode(request: HttpRequest) -> dict[str, Any]:
    """For signed-in users only (the sign-in page shows no internal state)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"operating_mode": mode_banner()}
