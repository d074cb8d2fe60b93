"""The buyer's cart, kept in the database so it survives restarts."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import ProductKind
from repositories.cart import CartRepo
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from services.dto import CartLine, CartView
from services.money import from_minor
from services.shop.catalog import NotFound


async def return_to_cart(session: AsyncSession, user_id: int, lines: Sequence[tuple[int, int]]) -> None:
    """Inside the caller's transaction: put (product id, quantity) lines back into the user's cart (a
    cancelled order's), each as far as the cart allows: products still on sale, and no line above the
    units on the shelf. A line already in the cart keeps what it holds and grows by what fits."""
    wanted: dict[int, int] = {}
    for product_id, quantity in lines:
        wanted[product_id] = wanted.get(product_id, 0) + quantity
    on_sale = await CatalogRepo(session).on_sale(list(wanted))
    available = await StockRepo(session).available(list(on_sale))
    cart = CartRepo(session)
    held = {item.product_id: item.quantity for item, _ in await cart.lines(user_id)}
    for product_id in sorted(on_sale):
        have = held.get(product_id, 0)
        room = min(have + wanted[product_id], available[product_id]) - have
        if room > 0:
            await cart.add(user_id, product_id, room)


class NotEnoughStock(Exception):
    def __init__(self, available: int) -> None:
        super().__init__(available)
        self.available = available


class CartService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def view(self, user_id: int) -> CartView:
        async with read_only(self._session):
            return await self._view(user_id)

    async def add(self, user_id: int, product_id: int, quantity: int) -> int:
        """Put `quantity` more of a product in the cart; returns the line's quantity.

        Raises NotFound for a missing or inactive product, NotEnoughStock when the cart would hold more
        than is on the shelf (nothing is held until checkout).
        """
        async with self._session.begin():
            catalog = CatalogRepo(self._session)
            if quantity < 1 or product_id not in await catalog.on_sale([product_id]):
                raise NotFound
            available = (await StockRepo(self._session).available([product_id]))[product_id]
            cart = CartRepo(self._session)
            total = await cart.add(user_id, product_id, quantity)
            if total > available:
                raise NotEnoughStock(available)  # rolls the addition back
            return total

    async def change(self, user_id: int, item_id: int, delta: int) -> CartView:
        """Change a line's quantity by `delta`, within 1..available. Raises NotFound for a line not in this cart."""
        async with self._session.begin():
            cart = CartRepo(self._session)
            item = await cart.line(user_id, item_id)
            if item is None:
                raise NotFound
            available = (await StockRepo(self._session).available([item.product_id]))[item.product_id]
            quantity = max(1, min(item.quantity + delta, max(available, 1)))
            await cart.set_quantity(item.id, quantity)
            return await self._view(user_id)

    async def remove(self, user_id: int, item_id: int) -> CartView:
        """Raises NotFound when the line is not in this cart (already removed, or someone else's)."""
        async with self._session.begin():
            if not await CartRepo(self._session).remove(user_id, item_id):
                raise NotFound
            return await self._view(user_id)

    async def take_what_is_left(self, user_id: int) -> CartView:
        """Lower each line to what is on sale right now, dropping lines of which nothing is left (sold out,
        or no longer sold), so that checkout can go on with the rest. Idempotent."""
        async with self._session.begin():
            cart = CartRepo(self._session)
            rows = await cart.lines(user_id)
            ids = [p.id for _, p in rows]
            on_sale = await CatalogRepo(self._session).on_sale(ids)
            available = await StockRepo(self._session).available(ids)
            for item, product in rows:
                left = available[product.id] if product.id in on_sale else 0
                if left == 0:
                    await cart.remove(user_id, item.id)
                elif item.quantity > left:
                    await cart.set_quantity(item.id, left)
            return await self._view(user_id)

    async def clear(self, user_id: int) -> None:
        async with self._session.begin():
            await CartRepo(self._session).clear(user_id)

    async def _view(self, user_id: int) -> CartView:
        rows = await CartRepo(self._session).lines(user_id)
        available = await StockRepo(self._session).available([p.id for _, p in rows])
        return CartView(
            [
                CartLine(
                    item_id=item.id,
                    product_id=p.id,
                    name=p.name,
                    quantity=item.quantity,
                    unit_price=from_minor(p.price_minor),
                    available=available[p.id],
                    physical=p.kind is ProductKind.physical,
                )
                for item, p in rows
            ]
        )
