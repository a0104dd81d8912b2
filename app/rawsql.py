"""Core statements compiled once per dialect and run on the driver's own cursor.

Awarding points runs a dozen small statements per event, and SQLAlchemy's
per-execution machinery (execution context, parameter processing, result
objects) costs more than SQLite takes to run them. ``Prepared`` compiles a Core
statement once per dialect, keeps the bind processors the compiler chose (dates
to UTC, JSON to text) and the values of literal binds, and runs the statement on
the DBAPI cursor of the connection the session already holds, inside its
transaction. SQL is still written as Core, so it stays the same on SQLite and
PostgreSQL.

Only for hot paths with fixed statements: no ``IN`` lists (expanding binds), no
Python-side column defaults (an INSERT names every column it needs), no ORM
objects back (rows come as the driver returns them, and a caller expires an
ORM copy it wrote around).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect


def bind_processor(type_, dialect: Dialect):
    """What the dialect does to a Python value of ``type_`` before the driver sees it (None: nothing).

    The public route to the processor SQLAlchemy itself uses: the type's dialect
    implementation (a TypeDecorator's ``process_bind_param`` included).
    """
    return type_.dialect_impl(dialect).bind_processor(dialect)


def result_processor(type_, dialect: Dialect):
    """What the dialect does to a driver value of ``type_`` to make the Python value (None: nothing)."""
    return type_.dialect_impl(dialect).result_processor(dialect, None)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: bool
    # (name, processor or None, literal value) for every bind, in SQL order when positional.
    binds: tuple[tuple[str, Any, Any], ...]
    required: frozenset[str]


class Prepared:
    """One Core statement, compiled lazily per dialect, executed on a raw cursor."""

    __slots__ = ("statement", "compiled_by_dialect")

    def __init__(self, statement):
        self.statement = statement
        self.compiled_by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self.compiled_by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            literal = {name: bind.effective_value for name, bind in compiled.binds.items()}
            names = compiled.positiontup if compiled.positional else list(compiled.binds)
            binds = tuple(
                (name, bind_processor(compiled.binds[name].type, dialect), literal.get(name)) for name in names
            )
            required = frozenset(name for name, bind in compiled.binds.items() if bind.required)
            found = _Compiled(compiled.string, bool(compiled.positional), binds, required)
            self.compiled_by_dialect[dialect.name] = found
        return found

    def arguments(self, compiled: _Compiled, params: dict):
        """The driver's parameters for one execution: processed values, in SQL order when positional."""
        values = []
        for name, process, literal in compiled.binds:
            value = params[name] if name in compiled.required else params.get(name, literal)
            values.append(process(value) if process is not None and value is not None else value)
        if compiled.positional:
            return values
        return dict(zip((name for name, _, _ in compiled.binds), values, strict=True))

    def execute(self, cursor: RawCursor, params: dict):
        """Run once; returns the DBAPI cursor (``fetchone()``, ``rowcount``)."""
        compiled = self.compiled(cursor.dialect)
        cursor.cursor.execute(compiled.sql, self.arguments(compiled, params))
        return cursor.cursor

    def executemany(self, cursor: RawCursor, rows: list[dict]) -> None:
        """Run once per parameter set (no RETURNING)."""
        compiled = self.compiled(cursor.dialect)
        cursor.cursor.executemany(compiled.sql, [self.arguments(compiled, row) for row in rows])


@dataclass(slots=True)
class RawCursor:
    """The DBAPI cursor of a SQLAlchemy connection, with its dialect (for compiling) and error classes."""

    cursor: Any
    dialect: Dialect

    @classmethod
    def of(cls, conn: Connection) -> RawCursor:
        return cls(conn.connection.cursor(), conn.dialect)

    @property
    def integrity_error(self) -> type[Exception]:
        return self.dialect.loaded_dbapi.IntegrityError

    @contextmanager
    def savepoint(self, name: str):
        """A savepoint on the raw connection: rolled back (and released) if the block raises."""
        self.cursor.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.cursor.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.cursor.execute(f"RELEASE SAVEPOINT {name}")

    def close(self) -> None:
        self.cursor.close()


@contextmanager
def cursor(session, raw: RawCursor | None = None) -> Iterator[RawCursor]:
    """``raw`` when the caller lends one, else a cursor on the session's connection, closed afterwards."""
    if raw is not None:
        yield raw
        return
    own = RawCursor.of(session.connection())
    try:
        yield own
    finally:
        own.close()


def dialect_insert(dialect: Dialect | str):
    """The dialect's ``insert`` (with ``on_conflict_*`` and ``excluded``): PostgreSQL's or SQLite's."""
    if (dialect if isinstance(dialect, str) else dialect.name) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
