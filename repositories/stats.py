"""Figures: counts for /healthz and /metrics (cheap aggregates), and sales over a time window for the
admin's statistics. Read-only.

Crypto amounts are summed in Python: on SQLite they are TEXT (wei exceeds 64 bits), so SQL SUM would
round them through floating point.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.chains import Asset
from models.enums import Chain, OrderStatus, OutboxStatus, PaymentStatus
from models.ops import Lease, OutboxMessage
from models.orders import Invoice, Order, OrderItem, Payment


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
            .where(Order.status.in_(OrderStatus.open()))
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

    async def orders_created(self, since: datetime) -> int:
        result = await self._s.execute(select(func.count()).select_from(Order).where(Order.created_at >= since))
        return int(result.scalar_one())

    async def sold(self, since: datetime) -> list[tuple[int, datetime, int, str]]:
        """(order id, paid at, fiat total in minor units, currency) of paid or shipped orders paid since then."""
        result = await self._s.execute(
            select(Order.id, Order.paid_at, Order.total_minor, Order.fiat_currency)
            .where(Order.status.in_(OrderStatus.sold()), Order.paid_at >= since)
            .order_by(Order.paid_at)
        )
        return [(int(i), at, int(total), str(cur)) for i, at, total, cur in result.tuples() if at is not None]

    async def received(self, order_ids: Sequence[int]) -> list[tuple[int, Asset, int]]:
        """(order id, asset, amount) of every payment still on chain to these orders' invoices."""
        rows: list[tuple[int, Asset, int]] = []
        for start in range(0, len(order_ids), 500):  # bounded IN lists
            result = await self._s.execute(
                select(Invoice, Payment.amount)
                .join(Invoice, Invoice.id == Payment.invoice_id)
                .where(Invoice.order_id.in_(order_ids[start : start + 500]), Payment.status != PaymentStatus.reorged)
            )
            rows += [(invoice.order_id, invoice.unit, int(a)) for invoice, a in result.tuples()]
        return rows

    async def invoices(self, since: datetime) -> tuple[int, int]:
        """(invoices created since then, how many of them got their order paid)."""
        result = await self._s.execute(
            select(func.count(), func.count(Order.paid_at))
            .select_from(Invoice)
            .join(Order, Order.id == Invoice.order_id)
            .where(Invoice.created_at >= since)
        )
        created, paid = result.one()
        return int(created), int(paid)

    async def top_products(self, since: datetime, limit: int) -> list[tuple[str, int, int]]:
        """(name, units, revenue in minor units) of the best sellers among orders paid since then."""
        units = func.sum(OrderItem.quantity)
        result = await self._s.execute(
            select(OrderItem.product_name, units, func.sum(OrderItem.quantity * OrderItem.unit_price_minor))
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.status.in_(OrderStatus.sold()), Order.paid_at >= since)
            .group_by(OrderItem.product_name)
            .order_by(units.desc(), OrderItem.product_name)
            .limit(limit)
        )
        return [(str(name), int(n), int(total)) for name, n, total in result.tuples()]

    async def orders_with_invoices(self, since: datetime) -> list[tuple[Order, Invoice | None]]:
        """Every order created since then, oldest first, with its invoice."""
        result = await self._s.execute(
            select(Order, Invoice)
            .outerjoin(Invoice, Invoice.order_id == Order.id)
            .where(Order.created_at >= since)
            .order_by(Order.id)
        )
        return [(order, invoice) for order, invoice in result.tuples()]
