"""Holding, releasing and selling stock units. Every change is a conditional UPDATE on the unit's status."""

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Reservation, StockUnit
from models.enums import StockStatus


class StockRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def reserve(self, product_id: int, quantity: int, order_id: int, until: datetime) -> list[int]:
        """Hold up to `quantity` available units of a product for an order; returns the ids held.

        Fewer ids than asked means too little stock: the caller must roll back. On PostgreSQL the
        candidate rows are locked with SKIP LOCKED so concurrent buyers take different units; on SQLite
        the transaction already holds the write lock. `status = 'available'` in the UPDATE itself makes
        the hold conditional either way, and reservations.stock_unit_id is unique.
        """
        # Two statements on purpose: PostgreSQL may run an `IN (SELECT ... LIMIT n)` subquery once per
        # outer row and so update more than n rows.
        candidates = list(
            (
                await self._s.execute(
                    select(StockUnit.id)
                    .where(StockUnit.product_id == product_id, StockUnit.status == StockStatus.available)
                    .order_by(StockUnit.id)
                    .limit(quantity)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        if len(candidates) < quantity:
            return []
        result = await self._s.execute(
            update(StockUnit)
            .where(StockUnit.id.in_(candidates), StockUnit.status == StockStatus.available)
            .values(status=StockStatus.reserved, order_id=order_id)
            .returning(StockUnit.id)
        )
        unit_ids = [int(i) for i in result.scalars()]
        if unit_ids:
            await self._s.execute(
                insert(Reservation),
                [{"order_id": order_id, "stock_unit_id": uid, "expires_at": until} for uid in unit_ids],
            )
        return unit_ids

    async def release(self, order_id: int) -> int:
        """Give an order's held units back to the shelf; returns how many. Idempotent."""
        await self._s.execute(delete(Reservation).where(Reservation.order_id == order_id))
        result = await self._s.execute(
            update(StockUnit)
            .where(StockUnit.order_id == order_id, StockUnit.status == StockStatus.reserved)
            .values(status=StockStatus.available, order_id=None)
        )
        return int(getattr(result, "rowcount", 0))

    async def sell(self, order_id: int, at: datetime) -> int:
        """Mark an order's held units sold and drop its reservations; returns how many. Idempotent."""
        await self._s.execute(delete(Reservation).where(Reservation.order_id == order_id))
        result = await self._s.execute(
            update(StockUnit)
            .where(StockUnit.order_id == order_id, StockUnit.status == StockStatus.reserved)
            .values(status=StockStatus.sold, sold_at=at)
        )
        return int(getattr(result, "rowcount", 0))

    async def sold_payloads(self, order_id: int) -> list[bytes]:
        result = await self._s.execute(
            select(StockUnit.payload_enc)
            .where(
                StockUnit.order_id == order_id, StockUnit.status == StockStatus.sold, StockUnit.payload_enc.is_not(None)
            )
            .order_by(StockUnit.id)
        )
        return [bytes(b) for b in result.scalars() if b is not None]
