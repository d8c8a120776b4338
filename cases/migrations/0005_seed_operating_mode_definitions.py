"""Seed one definition per operating mode (administrators edit them afterwards; cases.modes has the same defaults)."""

from django.db import migrations

DEFINITIONS = [
    {
        "mode": "normal",
        "time_limit_percent": 100,
        "marks_new_cases_key": False,
        "banner_colour": "#1e7d4f",
        "description_zh": "平时：按标准时限受理、派遣和处置。",
        "description_en": "Normal operation: the standard time limits apply.",
    },
    {
        "mode": "emergency",
        "time_limit_percent": 50,
        "marks_new_cases_key": False,
        "banner_colour": "#c0392b",
        "description_zh": "战时：各环节时限压缩为标准时限的 50%，全员在岗，优先处置。",
        "description_en": "Emergency: every stage starting now gets 50% of its standard time limit; all staff on duty.",
    },
    {
        "mode": "major_event",
        "time_limit_percent": 75,
        "marks_new_cases_key": True,
        "banner_colour": "#d35400",
        "description_zh": "重大活动保障：各环节时限压缩为标准时限的 75%，新上报案件一律列为重点案件。",
        "description_en": "Major event: every stage starting now gets 75% of its standard time limit; "
        "every new case is a key case.",
    },
]


def seed(apps, schema_editor):
    Definition = apps.get_model("cases", "OperatingModeDefinition")
    for values in DEFINITIONS:
        # An administrator's edit made before this ran (none can be) or a re-run keeps what is there.
        Definition.objects.get_or_create(mode=values["mode"], defaults=values)


def unseed(apps, schema_editor):
    apps.get_model("cases", "OperatingModeDefinition").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_operating_mode_definition")]

    operations = [migrations.RunPython(seed, unseed)]
