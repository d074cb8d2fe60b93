from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import User
from repositories.base import insert_ignoring_conflict


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        result = await self._s.execute(select(User).where(User.telegram_id == telegram_id))
        return result.scalar_one_or_none()

    async def insert_if_missing(self, telegram_id: int, username: str | None, language: str) -> None:
        await insert_ignoring_conflict(
            self._s,
            User.__table__,  # type: ignore[arg-type]
            {
                "telegram_id": telegram_id,
                "username": username,
                "language": language,
                "timeout_count": 0,
                "is_banned": False,
                "blocked_bot": False,
            },
            ["telegram_id"],
        )

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
