"""An index on cases.updated_at for today's figures (command.kpi), built without blocking intake on a large table."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("cases", "0005_seed_operating_mode_definitions")]

    operations = [
        AddIndexConcurrently(model_name="case", index=models.Index(fields=["updated_at"], name="cases_updated")),
    ]
