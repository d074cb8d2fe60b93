"""Settings an admin edits in the bot (texts, flags). Flushes, never commits."""

import functools

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.promotions import ShopSetting
from models.types import utcnow
from repositories.base import insert_ignoring_conflict


@functools.cache
def _value() -> Select[tuple[str]]:
    """A setting's value, with the parameter `key`; built once (repositories.base): the welcome text is read on
    every /start."""
    return select(ShopSetting.value).where(ShopSetting.key == bindparam("key"))


class ShopSettingsRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, key: str) -> str | None:
        return (await self._s.execute(_value(), {"key": key})).scalar_one_or_none()

    async def set(self, key: str, value: str) -> None:
        await self.reset(key)
        await insert_ignoring_conflict(
            self._s,
            ShopSetting.__table__,  # type: ignore[arg-type]
            {"key": key, "value": value, "updated_at": utcnow()},
            ["key"],
        )

    async def reset(self, key: str) -> bool:
        """Back to the built-in default; False when it was not set."""
        result = await self._s.execute(delete(ShopSetting).where(ShopSetting.key == key))
        return bool(getattr(result, "rowcount", 0))
