from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Invoice, Order, OrderItem, Payment
from models.enums import OrderProblem, OrderStatus

OPEN_STATUSES = (OrderStatus.awaiting_payment, OrderStatus.confirming)


class OrderRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, order: Order, items: Sequence[OrderItem]) -> Order:
        self._s.add(order)
        await self._s.flush()
        for item in items:
            item.order_id = order.id
        self._s.add_all(items)
        await self._s.flush()
        return order

    async def add_invoice(self, invoice: Invoice) -> None:
        self._s.add(invoice)
        await self._s.flush()

    async def get(self, order_id: int) -> Order | None:
        return await self._s.get(Order, order_id)

    async def owned(self, order_id: int, user_id: int) -> Order | None:
        """The order only when it belongs to this user: others' orders look exactly like missing ones."""
        result = await self._s.execute(select(Order).where(Order.id == order_id, Order.user_id == user_id))
        return result.scalar_one_or_none()

    async def open_order_of(self, user_id: int) -> Order | None:
        result = await self._s.execute(
            select(Order)
            .where(Order.user_id == user_id, Order.status.in_(OPEN_STATUSES))
            .order_by(Order.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def items(self, order_id: int) -> list[OrderItem]:
        return list(
            (
                await self._s.execute(select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id))
            ).scalars()
        )

    async def locked(self, order_id: int) -> Order | None:
        """The order, fresh from the database and row-locked on PostgreSQL until the transaction ends
        (this serialises concurrent reconcilers of one order; SQLite's BEGIN IMMEDIATE does so anyway)."""
        return (
            await self._s.execute(
                select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def invoice(self, order_id: int) -> Invoice | None:
        return (await self._s.execute(select(Invoice).where(Invoice.order_id == order_id))).scalar_one_or_none()

    async def payments(self, invoice_id: int) -> list[Payment]:
        return list(
            (
                await self._s.execute(select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.id))
            ).scalars()
        )

    async def of_user(self, user_id: int, page: int, size: int) -> tuple[list[Order], bool]:
        rows = list(
            (
                await self._s.execute(
                    select(Order)
                    .where(Order.user_id == user_id)
                    .order_by(Order.id.desc())
                    .offset(page * size)
                    .limit(size + 1)
                )
            ).scalars()
        )
        return rows[:size], len(rows) > size

    async def flag(self, order_id: int, problem: OrderProblem) -> bool:
        """Put the order in the problem queue unless it is already there for this reason."""
        result = await self._s.execute(
            update(Order).where(Order.id == order_id, Order.problem.is_distinct_from(problem)).values(problem=problem)
        )
        return getattr(result, "rowcount", 0) == 1

    async def move(self, order_id: int, from_statuses: Sequence[OrderStatus], **values: Any) -> bool:
        """Conditional status change: applies only while the order is in one of `from_statuses`."""
        result = await self._s.execute(
            update(Order).where(Order.id == order_id, Order.status.in_(from_statuses)).values(**values)
        )
        return getattr(result, "rowcount", 0) == 1
