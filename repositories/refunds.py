"""Refunds: reading them, and the conditional updates that move them. Flushes, never commits. Only
services.orders.lifecycle changes a refund's status."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import Chain, RefundStatus
from models.orders import Refund


class RefundRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, refund: Refund) -> Refund:
        self._s.add(refund)
        await self._s.flush()
        return refund

    async def get(self, refund_id: int) -> Refund | None:
        """Fresh from the database, also when the session holds an older copy."""
        return await self._s.get(Refund, refund_id, populate_existing=True)

    async def open_of(self, order_id: int) -> Refund | None:
        """The order's refund that is not finished (at most one)."""
        result = await self._s.execute(
            select(Refund)
            .where(Refund.order_id == order_id, Refund.status.in_(RefundStatus.open()))
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def latest(self, order_ids: Sequence[int]) -> dict[int, Refund]:
        """Per order, its newest refund that was not cancelled (open or paid)."""
        found: dict[int, Refund] = {}
        for start in range(0, len(order_ids), 500):  # bounded IN lists
            result = await self._s.execute(
                select(Refund)
                .where(Refund.order_id.in_(order_ids[start : start + 500]), Refund.status != RefundStatus.cancelled)
                .order_by(Refund.id)
            )
            found.update((r.order_id, r) for r in result.scalars())
        return found

    async def watched(self, chain: Chain) -> list[Refund]:
        """Refunds of `chain` waiting for their payment, oldest first."""
        result = await self._s.execute(
            select(Refund)
            .where(Refund.chain == chain, Refund.status == RefundStatus.awaiting_payment)
            .order_by(Refund.id)
        )
        return list(result.scalars())

    async def paid_by(self, chain: Chain, natural_ids: Sequence[str]) -> set[str]:
        """Those of the payments that already closed a refund."""
        if not natural_ids:
            return set()
        result = await self._s.execute(select(Refund.txid).where(Refund.chain == chain, Refund.txid.in_(natural_ids)))
        return {str(t) for t in result.scalars()}

    async def move(self, refund_id: int, from_statuses: Sequence[RefundStatus], **values: Any) -> bool:
        """Conditional change: applies only while the refund is in one of `from_statuses`."""
        result = await self._s.execute(
            update(Refund).where(Refund.id == refund_id, Refund.status.in_(from_statuses)).values(**values)
        )
        return getattr(result, "rowcount", 0) == 1
