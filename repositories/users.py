"""Buyers (and admins, who are users too). Flushes, never commits."""

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from models.orders import Order
from models.shop import User
from repositories.base import Dialect, dialect_of, insert_on_conflict, page_of

# The user middleware's statements, built once (repositories.base): they run for every buyer not remembered.


@functools.cache
def _by_telegram_id() -> Select[tuple[User]]:
    return select(User).where(User.telegram_id == bindparam("telegram_id"))


@functools.cache
def _insert_if_missing(dialect: Dialect) -> ReturningInsert[tuple[User]]:
    """With the new user's `telegram_id`, `username` and `language` as parameters. The "orm" strategy: given
    parameters, an ORM insert would otherwise be a bulk insert, compiled anew on every call."""
    return (
        insert_on_conflict(dialect, User, lambda insert: insert.on_conflict_do_nothing(index_elements=["telegram_id"]))
        .values(timeout_count=0, is_banned=False, blocked_bot=False)
        .returning(User)
        .execution_options(dml_strategy="orm")
    )


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, user_id: int, *, lock: bool = False) -> User | None:
        """Fresh from the database; row-locked on PostgreSQL when `lock`."""
        stmt = select(User).where(User.id == user_id).execution_options(populate_existing=True)
        return (await self._s.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        return (await self._s.execute(_by_telegram_id(), {"telegram_id": telegram_id})).scalar_one_or_none()

    async def telegram_id(self, user_id: int) -> int:
        return int((await self._s.execute(select(User.telegram_id).where(User.id == user_id))).scalar_one())

    async def languages(self, telegram_ids: Iterable[int]) -> dict[int, str]:
        """The language of each of these Telegram users who has talked to the bot; others are missing."""
        result = await self._s.execute(
            select(User.telegram_id, User.language).where(User.telegram_id.in_(list(telegram_ids)))
        )
        return {int(tg): str(language) for tg, language in result.tuples()}

    async def by_username(self, username: str) -> User | None:
        """Telegram usernames are case-insensitive; the newest account wins if an old one kept the name."""
        result = await self._s.execute(
            select(User).where(func.lower(User.username) == username.lower()).order_by(User.id.desc()).limit(1)
        )
        return result.scalar_one_or_none()

    async def with_timeouts(self, at_least: int, page: int, size: int) -> tuple[list[User], bool]:
        """Users with at least `at_least` expired unpaid orders, most first."""
        stmt = select(User).where(User.timeout_count >= at_least).order_by(User.timeout_count.desc(), User.id)
        return await page_of(self._s, stmt, page, size)

    async def order_count(self, user_id: int) -> int:
        return int((await self._s.execute(select(func.count()).where(Order.user_id == user_id))).scalar_one())

    async def insert_if_missing(self, telegram_id: int, username: str | None, language: str) -> User | None:
        """The new user; None when one with this Telegram id exists already."""
        values = {"telegram_id": telegram_id, "username": username, "language": language}
        return (await self._s.execute(_insert_if_missing(dialect_of(self._s)), values)).scalar_one_or_none()

    async def set_values(self, user_id: int, **values: Any) -> None:
        await self._s.execute(update(User).where(User.id == user_id).values(**values))

    async def set_username(self, user_id: int, username: str | None) -> None:
        await self._s.execute(
            update(User).where(User.id == user_id, User.username.is_distinct_from(username)).values(username=username)
        )

    async def set_blocked_bot(self, telegram_id: int, blocked: bool) -> None:
        await self._s.execute(
            update(User)
            .where(User.telegram_id == telegram_id, User.blocked_bot.is_not(blocked))
            .values(blocked_bot=blocked)
        )

    async def set_language(self, user_id: int, language: str) -> None:
        await self._s.execute(update(User).where(User.id == user_id).values(language=language))

    async def count_timeout(self, user_id: int, at: datetime) -> None:
        """One more order this buyer let run out (MAX_USER_TIMEOUTS stops their checkouts)."""
        await self._s.execute(
            update(User).where(User.id == user_id).values(timeout_count=User.timeout_count + 1, last_timeout_at=at)
        )
