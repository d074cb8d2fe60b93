"""Everything stored about one buyer, read across the aggregates for their data export (/mydata). Queries only;
erasing goes through each aggregate's own repository."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.orders import Invoice, Order, OrderItem, Payment
from models.shop import CartItem, Product
from repositories.orders import has_physical_items


class PersonalDataRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def orders(self, user_id: int) -> list[tuple[Order, bool]]:
        """The buyer's orders, oldest first, each with whether it holds physical items."""
        physical = has_physical_items().label("physical")
        stmt = select(Order, physical).where(Order.user_id == user_id).order_by(Order.id)
        result = await self._s.execute(stmt.execution_options(populate_existing=True))  # fresh, for erasing
        return [(order, bool(is_physical)) for order, is_physical in result.tuples()]

    async def items(self, order_ids: Sequence[int]) -> list[OrderItem]:
        if not order_ids:
            return []
        stmt = select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)
        return list(await self._s.scalars(stmt))

    async def invoices(self, order_ids: Sequence[int]) -> list[Invoice]:
        if not order_ids:
            return []
        return list(await self._s.scalars(select(Invoice).where(Invoice.order_id.in_(order_ids))))

    async def payments(self, invoice_ids: Sequence[int]) -> list[Payment]:
        if not invoice_ids:
            return []
        stmt = select(Payment).where(Payment.invoice_id.in_(invoice_ids)).order_by(Payment.id)
        return list(await self._s.scalars(stmt))

    async def cart(self, user_id: int) -> list[tuple[str, int]]:
        """(product name, quantity) of each line of the buyer's cart."""
        result = await self._s.execute(
            select(Product.name, CartItem.quantity)
            .join(Product, Product.id == CartItem.product_id)
            .where(CartItem.user_id == user_id)
            .order_by(CartItem.id)
        )
        return [(str(name), int(quantity)) for name, quantity in result.tuples()]
