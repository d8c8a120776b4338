"""Server-side prepared statements for the few statements every case change runs (the row lock, the event and row
write, intake's look-ups): PostgreSQL parses and plans each once per connection instead of on every call. Planning
the wide case row took four times as long as running the statement (about 0.37 ms against 0.09 ms); in all, a
third of the database's work on a case's life was planning.

The PREPARE travels with the statement's first EXECUTE on a connection (one round trip, one query as Django counts
them). A prepared statement outlives a rollback (PostgreSQL keeps it for the session); if the statement that
prepared it fails, whether the PREPARE took is unknown, so the next call prepares it again under a new name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s|%s")
_STATE_ATTR = "_cases_prepared_statements"


@dataclass(frozen=True)
class _Statement:
    base_name: str
    sql: str  # with $n placeholders; a literal % stays escaped as %%, since the PREPARE is sent with parameters
    names: tuple[str, ...] | None  # the parameters' names in $n order, for named placeholders; None: positional
    size: int

    def arguments(self, params: Sequence[Any] | Mapping[str, Any] | None) -> list[Any]:
        if self.names is not None:
            if not isinstance(params, Mapping):
                raise TypeError("a statement with named placeholders takes a mapping of parameters")
            return [params[name] for name in self.names]
        arguments = list(params or ())
        if len(arguments) != self.size:
            raise ValueError(f"the statement takes {self.size} parameters, {len(arguments)} given")
        return arguments


@dataclass
class _ConnectionState:
    raw: Any  # the DB-API connection the names below were prepared on
    prepared: dict[str, str] = field(default_factory=dict)  # base name -> name prepared under
    attempts: dict[str, int] = field(default_factory=dict)  # base name -> PREPAREs sent


_statements: dict[str, _Statement] = {}


def _statement(sql: str) -> _Statement:
    statement = _statements.get(sql)
    if statement is None:
        names: list[str] = []
        positional = 0

        def number(match: re.Match[str]) -> str:
            nonlocal positional
            if match.group(0) == "%%":
                return "%%"
            if match.group(1) is None:
                positional += 1
                return f"${positional}"
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        converted = _PLACEHOLDER.sub(number, sql)
        if names and positional:
            raise ValueError("a statement uses named or positional placeholders, not both")
        digest = hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:16]
        statement = _statements[sql] = _Statement(
            base_name=f"cases_{digest}", sql=converted, names=tuple(names) if names else None, size=positional
        )
    return statement


def execute(cursor: Any, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
    """`cursor.execute(sql, params)` (a Django cursor; placeholders %s or %(name)s) as a prepared statement.

    The SQL must be constant for a given shape of call (its text names the prepared statement) and its parameters'
    types must follow from the statement (PostgreSQL infers them when preparing: a column compared or assigned,
    a function's argument); add a cast where they do not.
    """
    db = cursor.db
    if db.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    db.ensure_connection()
    state = getattr(db, _STATE_ATTR, None)
    if state is None or state.raw is not db.connection:
        state = _ConnectionState(raw=db.connection)
        setattr(db, _STATE_ATTR, state)
    statement = _statement(sql)
    arguments = statement.arguments(params)
    call = ", ".join(["%s"] * len(arguments))
    name = state.prepared.get(statement.base_name)
    if name is not None:
        cursor.execute(f"EXECUTE {name}({call})" if arguments else f"EXECUTE {name}", arguments)
        return
    attempt = state.attempts.get(statement.base_name, 0) + 1
    state.attempts[statement.base_name] = attempt
    name = f"{statement.base_name}_{attempt}"
    execute_sql = f"EXECUTE {name}({call})" if arguments else f"EXECUTE {name}"
    prepare_sql = f"PREPARE {name} AS {statement.sql}"
    cursor.execute(f"{prepare_sql}; {execute_sql}", arguments)
    state.prepared[statement.base_name] = name
