"""AlarmEvent.published_at: which alarm changes reached the live feed (lifelines.live), so a sweep publishes the
ones Redis missed. Events from before this migration count as published: nobody is waiting for them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lifelines", "0003_rules_and_alarms"),
    ]

    operations = [
        migrations.AddField(
            model_name="alarmevent",
            name="published_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="published at"),
        ),
        migrations.RunSQL(
            "UPDATE lifelines_alarmevent SET published_at = at WHERE published_at IS NULL", migrations.RunSQL.noop
        ),
        migrations.AddIndex(
            model_name="alarmevent",
            index=models.Index(
                condition=models.Q(("published_at__isnull", True)),
                fields=["alarm"],
                name="lifelines_alarmevent_unpub",
            ),
        ),
    ]
