"""Helpers every repository shares: one way to page, one way to insert once or add to a row.

A statement a buyer's screens run on every press is built once (a module-level function under
`functools.cache`, with `bindparam` placeholders) and executed with a dict of parameters: SQLAlchemy memoizes
a statement's cache key on the object, so running the same object again skips building the statement and
its key, which took longer than running it (`repositories.loyalty._standing` was the first)."""

import weakref
from collections.abc import Callable, Mapping
from typing import Any, Literal

from sqlalchemy import Insert, Select, Table, bindparam, insert, text
from sqlalchemy.dialects import postgresql, registry, sqlite
from sqlalchemy.engine import Dialect as SQLDialect
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import Base

Dialect = Literal["sqlite", "postgresql"]

# Each statement page_of was given, with its paged form and whether it selects one entity or column. Weak keys:
# a statement built once keeps its paged form as long as it lives, one built per call takes it along when it goes.
_paged: "weakref.WeakKeyDictionary[Select[Any], tuple[Select[Any], bool]]" = weakref.WeakKeyDictionary()


async def page_of(
    session: AsyncSession, stmt: Select[Any], page: int, size: int, params: Mapping[str, Any] | None = None
) -> tuple[list[Any], bool]:
    """Rows `page * size` to `page * size + size` of an ordered statement, and whether more follow.

    A statement of one entity or column gives those values, one of several gives tuples. A negative
    page (a forged callback) reads the first page. `params` are the statement's own bind parameters; a
    statement built once is paged the same way each time, so its paged form is built once too.
    """
    if (known := _paged.get(stmt)) is None:
        paged = stmt.offset(bindparam("page_offset")).limit(bindparam("page_limit"))
        known = _paged[stmt] = (paged, len(stmt.column_descriptions) == 1)
    paged, single = known
    result = await session.execute(
        paged, {**(params or {}), "page_offset": max(page, 0) * size, "page_limit": size + 1}
    )
    rows = list(result.scalars()) if single else [tuple(row) for row in result]
    return rows[:size], len(rows) > size


async def insert_ignoring_conflict(
    session: AsyncSession, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL. True when a row was inserted."""
    stmt = dialect_insert(session, table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


def dialect_of(session: AsyncSession) -> Dialect:
    """The session's database: what a statement built once per dialect (`insert_in`) is keyed by."""
    return "postgresql" if session.bind is not None and session.bind.dialect.name == "postgresql" else "sqlite"


def insert_in(dialect: Dialect, table: Table | type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what to do ON CONFLICT, in this dialect; into a mapped class, it can return the
    rows as ORM objects."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


_COMPILERS: dict[Dialect, SQLDialect] = {name: registry.load(name)() for name in ("sqlite", "postgresql")}


def insert_on_conflict(
    dialect: Dialect,
    table: Table | type[Base],
    on_conflict: Callable[[postgresql.Insert | sqlite.Insert], postgresql.Insert | sqlite.Insert],
) -> Insert:
    """An INSERT with the ON CONFLICT clause `on_conflict` adds to this dialect's INSERT, as a statement
    SQLAlchemy compiles once: in 2.0 a dialect's ON CONFLICT makes its statement uncacheable, so a statement
    built once was still compiled on every run (0.1-0.35 ms, more than running it). The clause is the SQL
    that dialect renders for it, carried as text (cacheable); it must bind no values. A test compares the
    SQL with the dialect's own for each statement built this way."""
    compiler = _COMPILERS[dialect]
    with_clause = on_conflict(insert_in(dialect, table)).compile(dialect=compiler)
    plain = insert(table).compile(dialect=compiler)
    if not str(with_clause).startswith(str(plain)) or with_clause.binds.keys() != plain.binds.keys():
        raise ValueError(f"not a clause after the VALUES that binds nothing: {with_clause}")
    stmt = insert(table)
    # The slot each dialect's on_conflict_* sets; dml.Insert compiles it after the VALUES and keys its cache on it.
    stmt._post_values_clause = text(str(with_clause)[len(str(plain)) :].strip())
    return stmt


def dialect_insert(session: AsyncSession, table: Table | type[Base]) -> postgresql.Insert | sqlite.Insert:
    """`insert_in` the session's dialect."""
    return insert_in(dialect_of(session), table)
