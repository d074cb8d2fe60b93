"""Counts for /healthz and /metrics: cheap aggregate queries, read-only."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Invoice, Lease, Order, OutboxMessage, Payment
from models.enums import Chain, OrderStatus, OutboxStatus, PaymentStatus
from repositories.orders import OPEN_STATUSES


class StatsRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def orders_by_status(self) -> dict[OrderStatus, int]:
        rows = await self._s.execute(select(Order.status, func.count()).group_by(Order.status))
        return {OrderStatus(status): int(n) for status, n in rows.tuples()}

    async def credited_payments_by_chain(self) -> dict[Chain, int]:
        """Payments at their chain's confirmation depth, which count towards their invoice."""
        rows = await self._s.execute(
            select(Payment.chain, func.count()).where(Payment.status == PaymentStatus.confirmed).group_by(Payment.chain)
        )
        return {Chain(chain): int(n) for chain, n in rows.tuples()}

    async def open_invoices(self) -> int:
        result = await self._s.execute(
            select(func.count())
            .select_from(Invoice)
            .join(Order, Order.id == Invoice.order_id)
            .where(Order.status.in_(OPEN_STATUSES))
        )
        return int(result.scalar_one())

    async def outbox_pending(self) -> int:
        result = await self._s.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.pending)
        )
        return int(result.scalar_one())

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        result = await self._s.execute(select(Lease.holder).where(Lease.name == name, Lease.expires_at > now))
        return result.scalar_one_or_none()
