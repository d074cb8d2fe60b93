"""Buyers as the admin panel finds and manages them. Flushes, never commits."""

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Order, User


class AdminUserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, user_id: int, *, lock: bool = False) -> User | None:
        """Fresh from the database; row-locked on PostgreSQL when `lock`."""
        stmt = select(User).where(User.id == user_id).execution_options(populate_existing=True)
        return (await self._s.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        return (await self._s.execute(select(User).where(User.telegram_id == telegram_id))).scalar_one_or_none()

    async def by_username(self, username: str) -> User | None:
        """Telegram usernames are case-insensitive; the newest account wins if an old one kept the name."""
        result = await self._s.execute(
            select(User).where(func.lower(User.username) == username.lower()).order_by(User.id.desc()).limit(1)
        )
        return result.scalar_one_or_none()

    async def with_timeouts(self, at_least: int, page: int, size: int) -> tuple[list[User], bool]:
        """Users with at least `at_least` expired unpaid orders, most first."""
        rows = list(
            (
                await self._s.execute(
                    select(User)
                    .where(User.timeout_count >= at_least)
                    .order_by(User.timeout_count.desc(), User.id)
                    .offset(page * size)
                    .limit(size + 1)
                )
            ).scalars()
        )
        return rows[:size], len(rows) > size

    async def order_count(self, user_id: int) -> int:
        return int((await self._s.execute(select(func.count()).where(Order.user_id == user_id))).scalar_one())

    async def set_values(self, user_id: int, **values: Any) -> None:
        await self._s.execute(update(User).where(User.id == user_id).values(**values))
