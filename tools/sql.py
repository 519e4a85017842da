"""Read-only SQL: a statement reaches a database only when it is one SELECT (or a WITH ... SELECT).

The check runs before anything is sent; the sessions are read-only as well (`tools.sources`), so a statement the
check missed still cannot write.
"""

from __future__ import annotations

from tools.loading import DataError

# Statements and clauses that change data, the schema or the session, wherever they appear (a Postgres CTE can
# hold a DELETE ... RETURNING): names of sqlglot's expression classes. sqlglot itself is imported by the first
# check (40 ms, which a plain file never needs: the CLI asks tools.sources whether its argument is a URL).
_WRITES = (
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "Command",
    "Set",
    "Copy",
    "Into",
    "TruncateTable",
    "Grant",
    "LoadData",
    "Use",
    "Pragma",
    "Transaction",
    "Commit",
    "Rollback",
)


def check_select(sql: str, *, dialect: str | None = None, where: str = "the query") -> None:
    """Refuses anything but a single read-only SELECT.

    Raises:
        DataError: Naming what was found and what to write instead.
    """
    import sqlglot
    from sqlglot import exp

    text = sql.strip().rstrip(";").strip()
    if not text:
        raise DataError(f"{where} is empty: write one SELECT statement.", setting="query")
    try:
        statements = sqlglot.parse(text, read=dialect)
    except sqlglot.errors.ParseError as error:
        first = str(error).splitlines()[0]
        raise DataError(
            f"{where} could not be read as SQL ({first}); write one SELECT statement.", setting="query"
        ) from error
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise DataError(
            f"{where} holds {len(statements)} statements; write exactly one SELECT (no ';' between "
            "statements).",
            setting="query",
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = str(getattr(statement, "key", "unknown")).upper()
        raise DataError(
            f"{where} is a {kind} statement; only SELECT is allowed (the connection is read-only).",
            setting="query",
        )
    writing = next(iter(statement.find_all(*(getattr(exp, name) for name in _WRITES))), None)
    if writing is not None:
        raise DataError(
            f"{where} contains {writing.key.upper()}; only reading (SELECT) is allowed.", setting="query"
        )
