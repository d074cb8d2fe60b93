"""Helpers every repository shares: one way to page, one way to insert once."""

from typing import Any

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def page_of(session: AsyncSession, stmt: Select[Any], page: int, size: int) -> tuple[list[Any], bool]:
    """Rows `page * size` to `page * size + size` of an ordered statement, and whether more follow.

    A statement of one entity or column gives those values, one of several gives tuples. A negative
    page (a forged callback) reads the first page.
    """
    result = await session.execute(stmt.offset(max(page, 0) * size).limit(size + 1))
    rows = list(result.scalars()) if len(stmt.column_descriptions) == 1 else [tuple(row) for row in result]
    return rows[:size], len(rows) > size


def upsert(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of the session's dialect, which can say what to do ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


async def insert_ignoring_conflict(
    session: AsyncSession, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL. True when a row was inserted."""
    stmt = upsert(session, table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)
