"""Admin for the working calendar: browse days by year and month, mark holidays and working days, set working hours.

Each November the State Council announces next year's holidays; until the chinese-calendar package has them,
an administrator enters them here (the loader never overwrites a day set by hand).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.functions import ExtractYear
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.dates import MONTHS
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from organisations.admin import CityAdministratorPermissions
from workcalendar.models import CalendarDay, DayKind, DaySource, WorkPeriod, WorkSchedule
from workcalendar.services import (
    calendar_day_release,
    calendar_day_set,
    work_schedule_changed,
    work_schedule_delete,
    work_schedule_save,
)
from workcalendar.timeline import periods_valid

WEEKDAYS = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday"))


class YearFilter(admin.SimpleListFilter):
    title = _("year")
    parameter_name = "year"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        years = (
            CalendarDay.objects.annotate(year=ExtractYear("date"))
            .values_list("year", flat=True)
            .distinct()
            .order_by("year")
        )
        return [(str(year), str(year)) for year in years]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CalendarDay]) -> QuerySet[CalendarDay]:
        value = self.value()
        return queryset.filter(date__year=int(value)) if value and value.isdigit() else queryset


class MonthFilter(admin.SimpleListFilter):
    title = _("month")
    parameter_name = "month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(number), str(name)) for number, name in MONTHS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CalendarDay]) -> QuerySet[CalendarDay]:
        value = self.value()
        return queryset.filter(date__month=int(value)) if value and value.isdigit() else queryset


@admin.register(CalendarDay)
class CalendarDayAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("date", "weekday", "kind", "is_working_day", "holiday_name", "source", "edited_by")
    list_filter = (YearFilter, MonthFilter, "kind", "is_working_day", "source")
    list_select_related = ("edited_by",)
    date_hierarchy = "date"
    search_fields = ("holiday_name",)
    ordering = ("date",)
    list_per_page = 31
    fields = ("date", "kind", "holiday_name", "is_working_day", "source", "edited_by", "updated_at")
    readonly_fields = ("is_working_day", "source", "edited_by", "updated_at")
    actions = ("mark_holiday", "mark_working", "release_to_official")

    @admin.display(description=_("weekday"))
    def weekday(self, day: CalendarDay) -> str:
        return str(WEEKDAYS[day.date.weekday()])

    def get_readonly_fields(self, request: HttpRequest, obj: CalendarDay | None = None) -> tuple[str, ...]:
        # A day is its date: to change another date, edit that day.
        return (*self.readonly_fields, "date") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: CalendarDay, form: ModelForm, change: bool) -> None:
        saved = calendar_day_set(day=obj.date, kind=obj.kind, holiday_name=obj.holiday_name, acting_user=request.user)
        obj.pk = saved.pk  # the admin's messages and redirect use the row the service wrote

    # Days are never deleted: a day missing from the table would silently become a Monday-Friday default.
    def has_delete_permission(self, request: HttpRequest, obj: CalendarDay | None = None) -> bool:
        return False

    @admin.action(description=_("Mark as public holiday (day off)"), permissions=("change",))
    def mark_holiday(self, request: HttpRequest, queryset: QuerySet[CalendarDay]) -> None:
        days = list(queryset)
        for day in days:
            calendar_day_set(
                day=day.date, kind=DayKind.HOLIDAY, holiday_name=day.holiday_name, acting_user=request.user
            )
        self._done(request, len(days))

    @admin.action(
        description=_("Mark as working day (a weekend day becomes a make-up working day)"), permissions=("change",)
    )
    def mark_working(self, request: HttpRequest, queryset: QuerySet[CalendarDay]) -> None:
        days = list(queryset)
        for day in days:
            kind = DayKind.MAKEUP_WORKDAY if day.date.weekday() >= 5 else DayKind.WORKDAY
            name = day.holiday_name if kind == DayKind.MAKEUP_WORKDAY else ""
            calendar_day_set(day=day.date, kind=kind, holiday_name=name, acting_user=request.user)
        self._done(request, len(days))

    @admin.action(description=_("Return to the official calendar (undo manual edits)"), permissions=("change",))
    def release_to_official(self, request: HttpRequest, queryset: QuerySet[CalendarDay]) -> None:
        days = list(queryset.filter(source=DaySource.ADMINISTRATOR))
        for day in days:
            calendar_day_release(day=day.date)
        self._done(request, len(days))

    def _done(self, request: HttpRequest, count: int) -> None:
        message = ngettext("%(count)d day changed.", "%(count)d days changed.", count) % {"count": count}
        self.message_user(request, message, messages.SUCCESS)


class WorkPeriodFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        periods = [
            (form.cleaned_data["start"], form.cleaned_data["end"])
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("start")
            and form.cleaned_data.get("end")
        ]
        if not periods_valid(periods):
            raise ValidationError(
                _("Give at least one working period; each must end after it starts, and periods must not overlap.")
            )


class WorkPeriodInline(CityAdministratorPermissions, admin.TabularInline):
    model = WorkPeriod
    formset = WorkPeriodFormSet
    fields = ("start", "end")
    ordering = ("start",)
    extra = 0


@admin.register(WorkSchedule)
class WorkScheduleAdmin(CityAdministratorPermissions, admin.ModelAdmin):
    list_display = ("name", "is_active", "period_list", "updated_at")
    list_filter = ("is_active",)
    fields = ("name", "is_active")
    inlines = (WorkPeriodInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkSchedule]:
        return super().get_queryset(request).prefetch_related("periods")

    @admin.display(description=_("working periods"))
    def period_list(self, schedule: WorkSchedule) -> str:
        return ", ".join(str(period) for period in schedule.periods.all())

    def save_model(self, request: HttpRequest, obj: WorkSchedule, form: ModelForm, change: bool) -> None:
        work_schedule_save(schedule=obj)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        work_schedule_changed()

    def delete_model(self, request: HttpRequest, obj: WorkSchedule) -> None:
        work_schedule_delete(schedule=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WorkSchedule]) -> None:
        for schedule in queryset:
            work_schedule_delete(schedule=schedule)
