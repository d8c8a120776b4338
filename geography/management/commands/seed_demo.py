"""`manage.py seed_demo`: build the demo city (idempotent; every stage that is already done is skipped)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from catalogue.models import ClassKind, MinorClass
from geography import demo
from geography.models import Community, GridCell, Street
from lifelines.demo import lifelines_build
from organisations import demo as org_demo
from organisations.models import OrgUnit


def catalogue_load() -> demo.StageResult:
    """The standard catalogue (components, events, services), through its own loader (idempotent itself)."""
    before = MinorClass.objects.count()
    call_command("load_catalogue", verbosity=0)
    after = MinorClass.objects.count()
    components = MinorClass.objects.filter(major__kind=ClassKind.COMPONENT).count()
    detail = f"{after} classes, {components} of them component classes"
    if before and after == before:
        return demo.StageResult("catalogue", skipped=True, detail=f"{detail} already there")
    return demo.StageResult("catalogue", created=after - before, detail=detail)


def calendar_load() -> demo.StageResult:
    """This year's and next year's working calendar, through the calendar's own loader (idempotent)."""
    from workcalendar.models import CalendarDay

    before = CalendarDay.objects.count()
    call_command("load_calendar", verbosity=0)
    after = CalendarDay.objects.count()
    if before and after == before:
        return demo.StageResult("working calendar", skipped=True, detail=f"{after} days already there")
    return demo.StageResult("working calendar", created=after - before, detail=f"{after} days")


def org_tree_build() -> demo.StageResult:
    from geography.models import District

    # Grassroots units (居委会 / 村委会) only where the grid runs: the communities with cells.
    with_cells = Community.objects.filter(pk__in=GridCell.objects.values("community_id")).order_by("code")
    result = org_demo.org_tree_build(
        districts=District.objects.order_by("code"),
        streets=Street.objects.order_by("code"),
        grassroots_communities=with_cells,
    )
    if result.skipped:
        return demo.StageResult("organisations", skipped=True, detail=f"{OrgUnit.objects.count()} units already there")
    return demo.StageResult("organisations", created=result.created, detail=f"{result.created} units")


def component_clusters_build() -> demo.StageResult:
    """The components map layer's cluster pyramid (geography.tiles), counted again when the components changed."""
    from django.db.models import Sum

    from geography.models import Component, ComponentClusterTotal
    from geography.tiles import COARSEST_LEVEL, component_clusters_rebuild

    components = Component.objects.count()
    counted = ComponentClusterTotal.objects.filter(level=COARSEST_LEVEL).aggregate(n=Sum("count"))["n"] or 0
    if counted == components:
        return demo.StageResult("component clusters", skipped=True, detail=f"{components:,} components counted")
    result = component_clusters_rebuild()
    return demo.StageResult(
        "component clusters", created=result.cells + result.totals, detail=f"{result.components:,} components"
    )


def logins_create() -> demo.StageResult:
    result = org_demo.demo_logins_create()
    if not result.created:
        return demo.StageResult("demo logins", skipped=True, detail=f"{len(result.existing)} already there")
    return demo.StageResult("demo logins", created=len(result.created), detail=", ".join(result.created))


def cases_history(*, count: int, progress: Callable[[int, int], None] | None = None) -> demo.StageResult:
    """Past cases through the real services (cases.demo) until the city has `count` cases (an interrupted build
    continues)."""
    from cases import demo as case_demo
    from cases.models import FINAL_STATUSES

    if count <= 0:
        return demo.StageResult("case history", skipped=True, detail="--cases 0")
    result = case_demo.case_history_build(count=count, progress=progress)
    if result.skipped:
        return demo.StageResult("case history", skipped=True, detail=f"the city has {result.existing:,} cases already")
    open_ = sum(n for status, n in result.by_status.items() if status not in FINAL_STATUSES)
    detail = (
        f"{result.events:,} events, {open_:,} of the city's cases open, "
        f"{result.created / max(result.seconds, 0.001):.0f} cases/s in {result.workers} processes"
    )
    return demo.StageResult("case history", created=result.created, detail=detail)


class Command(BaseCommand):
    help = (
        "Build the demo city: districts, streets, communities, the unit grid, organisations, logins, components, "
        "and a month of cases."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--components",
            type=int,
            default=demo.DEFAULT_COMPONENTS,
            help=f"components to have in total (default {demo.DEFAULT_COMPONENTS:,}); existing ones count",
        )
        parser.add_argument(
            "--scale",
            action="store_true",
            help=f"the reference city's {demo.FULL_SCALE_COMPONENTS:,} components (benchmarks; takes minutes)",
        )
        parser.add_argument(
            "--core-scale",
            type=float,
            default=1.0,
            help="multiply each district's grid core radius (default 1.0, about 53,000 cells; 0.1 for tests)",
        )

        parser.add_argument(
            "--cases",
            type=int,
            default=None,
            help="cases the city should have: past cases are created through the workflow up to this number "
            "(default cases.demo.DEFAULT_CASES, 20,000: about 3 minutes on two cores; 0 skips)",
        )

    def handle(self, *args: object, **options: object) -> None:
        target = demo.FULL_SCALE_COMPONENTS if options["scale"] else int(options["components"])
        core_scale = float(options["core_scale"])
        verbose = int(options["verbosity"]) >= 1
        from cases import demo as case_demo

        cases = case_demo.DEFAULT_CASES if options["cases"] is None else int(options["cases"])

        def progress(done: int, total: int) -> None:
            if verbose and done < total:
                self.stdout.write(f"    {done:,} of {total:,} cases")

        stages: list[Callable[[], demo.StageResult]] = [
            demo.districts_load,
            demo.streets_and_communities_build,
            lambda: demo.grid_cells_build(core_scale=core_scale),
            catalogue_load,
            calendar_load,
            org_tree_build,
            logins_create,
            lifelines_build,
            lambda: demo.components_build(target=target, progress=verbose and target > 500_000),
            component_clusters_build,
            lambda: cases_history(count=cases, progress=progress),
        ]
        started = time.monotonic()
        for stage in stages:
            t0 = time.monotonic()
            result = stage()
            if verbose:
                what = "skipped" if result.skipped else f"created {result.created:,}"
                detail = f" ({result.detail})" if result.detail else ""
                self.stdout.write(f"  {result.name:<22} {what}{detail}  {time.monotonic() - t0:.1f} s")
        if verbose:
            self.stdout.write(self.style.SUCCESS(f"demo city ready in {time.monotonic() - started:.1f} s"))
