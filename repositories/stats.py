"""Counts for /healthz and /metrics: cheap aggregate queries, read-only."""

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Invoice, Lease, Order, OutboxMessage, Payment
from models.enums import Chain, OrderStatus, OutboxStatus, PaymentStatus
from repositories.payments import OPEN


class StatsRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def orders_by_status(self) -> dict[OrderStatus, int]:
        rows = await self._s.execute(select(Order.status, func.count()).group_by(Order.status))
        return {OrderStatus(status): int(n) for status, n in rows.tuples()}

    async def credited_payments_by_chain(self, depths: Mapping[Chain, int]) -> dict[Chain, int]:
        """Payments that count towards their invoice: confirmed, or seen at the chain's depth (a payment
        first seen already at depth keeps status "seen" until the next scan refreshes it)."""
        at_depth = [and_(Payment.chain == chain, Payment.confirmations >= depth) for chain, depth in depths.items()]
        credited = Payment.status == PaymentStatus.confirmed
        if at_depth:
            credited = or_(credited, and_(Payment.status == PaymentStatus.seen, or_(*at_depth)))
        rows = await self._s.execute(select(Payment.chain, func.count()).where(credited).group_by(Payment.chain))
        return {Chain(chain): int(n) for chain, n in rows.tuples()}

    async def open_invoices(self) -> int:
        result = await self._s.execute(select(func.count()).select_from(Invoice)
                                       .join(Order, Order.id == Invoice.order_id).where(Order.status.in_(OPEN)))
        return int(result.scalar_one())

    async def outbox_pending(self) -> int:
        result = await self._s.execute(select(func.count()).select_from(OutboxMessage)
                                       .where(OutboxMessage.status == OutboxStatus.pending))
        return int(result.scalar_one())

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        result = await self._s.execute(select(Lease.holder).where(Lease.name == name, Lease.expires_at > now))
        return result.scalar_one_or_none()
