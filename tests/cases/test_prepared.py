"""The hot statements run as server-side prepared statements: prepared once per connection in the same round trip
as their first run, still there after a rollback, prepared again after a failed first run or on a new connection."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from cases import prepared

pytestmark = pytest.mark.django_db

SQL = "SELECT %(a)s::int + %(b)s::int, %(a)s::int * 10"


def _ours() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'cases_%%' ORDER BY name")
        return [name for (name,) in cursor.fetchall()]


def _run(sql: str, params: Any) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, params)
        return cursor.fetchone()


def test_a_statement_is_prepared_once_per_connection_in_its_first_round_trip(
    django_assert_num_queries: Any,
) -> None:
    before = _ours()

    with django_assert_num_queries(2):
        first = _run(SQL, {"a": 2, "b": 3})
        second = _run(SQL, {"a": 5, "b": 1})

    assert (first, second) == ((5, 20), (6, 50))
    assert len(_ours()) == len(before) + 1


def test_positional_placeholders_and_a_percent_sign_in_the_statement() -> None:
    sql = "SELECT %s::int + %s::int, 'a%%s' LIKE 'a%%'"

    assert _run(sql, [1, 2]) == (3, True)
    assert _run(sql, [3, 4]) == (7, True)
    with pytest.raises(ValueError, match="2 parameters"):
        _run(sql, [1])


def test_a_prepared_statement_outlives_a_rollback() -> None:
    sql = "SELECT %s::int - 1"
    with transaction.atomic():
        assert _run(sql, [10]) == (9,)
        transaction.set_rollback(True)

    assert _run(sql, [20]) == (19,)


def test_after_a_failed_first_run_the_next_run_prepares_it_again() -> None:
    sql = "SELECT 100 / %s::int"
    with pytest.raises(DatabaseError, match="division by zero"), transaction.atomic():
        _run(sql, [0])

    assert _run(sql, [4]) == (25,)
    assert _run(sql, [5]) == (20,)


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_its_statements_afresh() -> None:
    sql = "SELECT %s::text || '!'"
    assert _run(sql, ["a"]) == ("a!",)
    connection.close()

    assert _run(sql, ["b"]) == ("b!",)
    assert _run(sql, ["c"]) == ("c!",)
