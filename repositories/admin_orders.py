"""The admins' queries over orders: lists by status, the problem queue, and an order's history."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditLog, Invoice, Order, OrderItem, OutboxMessage, Payment, Product, User
from models.enums import OrderProblem, OrderStatus, PaymentStatus, ProductKind


def has_physical_items() -> ColumnElement[bool]:
    """True for an order with at least one physical product (a deleted product no longer counts)."""
    return exists().where(
        OrderItem.order_id == Order.id, OrderItem.product_id == Product.id, Product.kind == ProductKind.physical
    )


class AdminOrderRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def page(
        self, statuses: Sequence[OrderStatus], physical: bool | None, page: int, size: int
    ) -> tuple[list[tuple[Order, User]], bool]:
        """Newest first; `physical` narrows to orders with (True) or without (False) physical items."""
        stmt = select(Order, User).join(User, User.id == Order.user_id).where(Order.status.in_(statuses))
        if physical is not None:
            stmt = stmt.where(has_physical_items() if physical else ~has_physical_items())
        rows = [
            (o, u)
            for o, u in (
                await self._s.execute(stmt.order_by(Order.id.desc()).offset(page * size).limit(size + 1))
            ).tuples()
        ]
        return rows[:size], len(rows) > size

    async def counts(self) -> dict[tuple[OrderStatus, bool], int]:
        """How many orders per (status, has physical items)."""
        physical = has_physical_items().label("physical")
        result = await self._s.execute(select(Order.status, physical, func.count()).group_by(Order.status, physical))
        return {(status, bool(phys)): int(n) for status, phys, n in result.tuples()}

    async def problems(self, page: int, size: int) -> tuple[list[Order], bool]:
        """Orders in the problem queue, oldest first: they have waited longest."""
        rows = list(
            (
                await self._s.execute(
                    select(Order)
                    .where(Order.problem.is_not(None))
                    .order_by(Order.id)
                    .offset(page * size)
                    .limit(size + 1)
                )
            ).scalars()
        )
        return rows[:size], len(rows) > size

    async def buyer(self, user_id: int) -> User:
        return (await self._s.execute(select(User).where(User.id == user_id))).scalar_one()

    async def is_physical(self, order_id: int) -> bool:
        return bool((await self._s.execute(select(has_physical_items()).where(Order.id == order_id))).scalar())

    async def received(self, order_ids: Sequence[int]) -> dict[int, int]:
        """Sum of the payments still on chain (not reorged) per order. Summed in Python: on SQLite the
        amounts are text, and SUM would go through floating point."""
        result = await self._s.execute(
            select(Invoice.order_id, Payment.amount)
            .join(Payment, Payment.invoice_id == Invoice.id)
            .where(Invoice.order_id.in_(order_ids), Payment.status != PaymentStatus.reorged)
        )
        totals = dict.fromkeys(order_ids, 0)
        for order_id, amount in result.tuples():
            totals[order_id] += amount
        return totals

    async def audit(self, order_id: int) -> list[AuditLog]:
        return list(
            (
                await self._s.execute(
                    select(AuditLog)
                    .where(AuditLog.entity == "order", AuditLog.entity_id == order_id)
                    .order_by(AuditLog.id)
                )
            ).scalars()
        )

    async def outbox(self, order_id: int) -> list[OutboxMessage]:
        return list(
            (
                await self._s.execute(
                    select(OutboxMessage).where(OutboxMessage.order_id == order_id).order_by(OutboxMessage.id)
                )
            ).scalars()
        )

    async def clear_problem(self, order_id: int, problem: OrderProblem, **values: object) -> bool:
        """Take the order out of the problem queue, only while it is still there for `problem`."""
        result = await self._s.execute(
            update(Order).where(Order.id == order_id, Order.problem == problem).values(problem=None, **values)
        )
        return getattr(result, "rowcount", 0) == 1
