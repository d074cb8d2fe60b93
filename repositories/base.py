"""Helpers every repository shares: one way to page, one way to insert once or add to a row."""

from typing import Any

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import Base


async def page_of(session: AsyncSession, stmt: Select[Any], page: int, size: int) -> tuple[list[Any], bool]:
    """Rows `page * size` to `page * size + size` of an ordered statement, and whether more follow.

    A statement of one entity or column gives those values, one of several gives tuples. A negative
    page (a forged callback) reads the first page.
    """
    result = await session.execute(stmt.offset(max(page, 0) * size).limit(size + 1))
    rows = list(result.scalars()) if len(stmt.column_descriptions) == 1 else [tuple(row) for row in result]
    return rows[:size], len(rows) > size


async def insert_ignoring_conflict(
    session: AsyncSession, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL. True when a row was inserted."""
    stmt = dialect_insert(session, table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


def dialect_insert(session: AsyncSession, table: Table | type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what to do ON CONFLICT, in the session's dialect (SQLite or PostgreSQL); into a
    mapped class, it can return the rows as ORM objects."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
