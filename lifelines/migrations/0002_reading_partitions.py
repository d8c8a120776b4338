"""The raw readings table, RANGE-partitioned by month (UTC) on the reading's timestamp, and the function that
creates the months' partitions (idempotent; ingest and the maintenance task call it, see lifelines.services).

Primary key (sensor_id, ts): a reading is unique by sensor and timestamp, and the value rides in the index
(INCLUDE) so a chart reads one sensor's range from the index alone. No foreign key to the sensor: every stored
row would pay for the check, and Django's flush (which truncates the tables it manages, not this one) could no
longer truncate the sensors. The sensor rows get room for in-place (HOT) updates of their latest value.
"""

from django.db import migrations

CREATE_SQL = """
CREATE TABLE lifelines_reading (
    sensor_id bigint NOT NULL,
    ts timestamptz NOT NULL,
    value double precision NOT NULL,
    received_at timestamptz NOT NULL,
    CONSTRAINT lifelines_reading_pkey PRIMARY KEY (sensor_id, ts) INCLUDE (value)
) PARTITION BY RANGE (ts);

CREATE FUNCTION lifelines_reading_partitions_ensure(from_ts timestamptz, to_ts timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', from_ts AT TIME ZONE 'UTC');
    last_month timestamp := date_trunc('month', to_ts AT TIME ZONE 'UTC');
    partition_name text;
    created integer := 0;
BEGIN
    -- One creator at a time: two ingests reaching a new month together must not both create it.
    PERFORM pg_advisory_xact_lock(hashtext('lifelines_reading_partitions'));
    WHILE month_start <= last_month LOOP
        partition_name := 'lifelines_reading_p' || to_char(month_start, 'YYYYMM');
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF lifelines_reading FOR VALUES FROM (%L) TO (%L)',
                partition_name,
                month_start AT TIME ZONE 'UTC',
                (month_start + interval '1 month') AT TIME ZONE 'UTC'
            );
            created := created + 1;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END;
$$;

-- This month, the one before (devices upload what they buffered) and the next two.
SELECT lifelines_reading_partitions_ensure(now() - interval '1 month', now() + interval '2 months');

ALTER TABLE lifelines_sensor SET (fillfactor = 80);
"""

DROP_SQL = """
ALTER TABLE lifelines_sensor RESET (fillfactor);
DROP FUNCTION IF EXISTS lifelines_reading_partitions_ensure(timestamptz, timestamptz);
DROP TABLE IF EXISTS lifelines_reading;
"""


class Migration(migrations.Migration):
    dependencies = [("lifelines", "0001_initial")]

    operations = [migrations.RunSQL(CREATE_SQL, DROP_SQL)]
