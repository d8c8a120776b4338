"""A partial covering index of the open cases for the map's cases layer (cases.tiles), built without blocking
intake on a large table."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("cases", "0006_case_updated_index")]

    operations = [
        AddIndexConcurrently(
            model_name="case",
            index=models.Index(
                fields=["status"],
                include=[
                    "location",
                    "urgency",
                    "is_overdue",
                    "is_key",
                    "district",
                    "street",
                    "community",
                    "lead_unit",
                    "id",
                ],
                name="cases_open_map",
                condition=~models.Q(status__in=["cancelled", "closed", "merged", "not_registered"]),
            ),
        ),
    ]
