"""The case event log is append-only: the database itself refuses UPDATE, DELETE and TRUNCATE on it.

TRUNCATE is allowed only where the session sets `cases.allow_log_truncate = on` (the test suite's
flush between transactional tests); a superuser who wants more can disable the triggers, which
`verify_case_log` would then catch through the hash chain. Also: the sequence case numbers draw from.
"""

from django.db import migrations

APPEND_ONLY_SQL = """
CREATE FUNCTION cases_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('cases.allow_log_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'cases_caseevent is append-only: % refused (a case event is a legal record)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER cases_event_no_update_delete
    BEFORE UPDATE OR DELETE ON cases_caseevent
    FOR EACH ROW EXECUTE FUNCTION cases_event_append_only();

CREATE TRIGGER cases_event_no_truncate
    BEFORE TRUNCATE ON cases_caseevent
    FOR EACH STATEMENT EXECUTE FUNCTION cases_event_append_only();

CREATE SEQUENCE cases_case_number_seq;
"""

DROP_SQL = """
DROP SEQUENCE IF EXISTS cases_case_number_seq;
DROP TRIGGER IF EXISTS cases_event_no_truncate ON cases_caseevent;
DROP TRIGGER IF EXISTS cases_event_no_update_delete ON cases_caseevent;
DROP FUNCTION IF EXISTS cases_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunSQL(APPEND_ONLY_SQL, DROP_SQL)]
