"""The admin's shipping options. Flushes, never commits."""

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.shop import ShippingOption


class ShippingRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def all(self, *, active_only: bool) -> list[ShippingOption]:
        """Cheapest first, then by name."""
        stmt = select(ShippingOption).order_by(ShippingOption.price_minor, ShippingOption.name)
        if active_only:
            stmt = stmt.where(ShippingOption.is_active)
        return list((await self._s.execute(stmt)).scalars())

    async def get(self, option_id: int) -> ShippingOption | None:
        return await self._s.get(ShippingOption, option_id, populate_existing=True)

    async def add(self, name: str, price_minor: int) -> ShippingOption:
        """Raises sqlalchemy.exc.IntegrityError when the name is taken."""
        option = ShippingOption(name=name, price_minor=price_minor)
        self._s.add(option)
        await self._s.flush()
        return option

    async def set_values(self, option_id: int, **values: Any) -> bool:
        """Raises sqlalchemy.exc.IntegrityError when a new name is taken; False for a missing option."""
        result = await self._s.execute(update(ShippingOption).where(ShippingOption.id == option_id).values(**values))
        return getattr(result, "rowcount", 0) == 1
