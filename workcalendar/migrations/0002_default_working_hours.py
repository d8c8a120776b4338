"""The usual working hours of a Qingdao government office, active from the start: 08:30-12:00 and 13:30-17:30."""

import datetime

from django.db import migrations

PERIODS = ((datetime.time(8, 30), datetime.time(12, 0)), (datetime.time(13, 30), datetime.time(17, 30)))


def create_default_schedule(apps, schema_editor):
    WorkSchedule = apps.get_model("workcalendar", "WorkSchedule")
    WorkPeriod = apps.get_model("workcalendar", "WorkPeriod")
    if WorkSchedule.objects.exists():
        return
    schedule = WorkSchedule.objects.create(name="标准工作时间", is_active=True)
    WorkPeriod.objects.bulk_create(WorkPeriod(schedule=schedule, start=start, end=end) for start, end in PERIODS)


def delete_default_schedule(apps, schema_editor):
    apps.get_model("workcalendar", "WorkSchedule").objects.filter(name="标准工作时间").delete()


class Migration(migrations.Migration):
    dependencies = [("workcalendar", "0001_calendar_days_and_working_hours")]

    operations = [migrations.RunPython(create_default_schedule, delete_default_schedule)]
