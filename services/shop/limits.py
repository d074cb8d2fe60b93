"""The per-buyer limit: a product may allow each buyer at most `limit_units` units within any `limit_days`
days. What counts is the buyer's open and sold orders placed in that window (expired, cancelled or unpaid
ones do not). Checkout checks it inside its own transaction, with the buyer's row locked, so two checkouts of
one buyer cannot both pass; the cart and the card use it to bound what they offer."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from models.shop import Product
from repositories.orders import OrderRepo


class LimitReached(Exception):
    """The buyer may not buy this many of the product now: `left` more at most (0: none) within the limit of
    `units` per `days` days."""

    def __init__(self, name: str, left: int, units: int, days: int) -> None:
        super().__init__(name, left, units, days)
        self.name = name
        self.left = left
        self.units = units
        self.days = days


def limited(product: Product) -> bool:
    """The product has a per-buyer limit."""
    return product.limit_units is not None and product.limit_days is not None


async def limits_left(
    session: AsyncSession, user_id: int, products: Sequence[Product], now: datetime
) -> dict[int, int | None]:
    """How many more units of each product the buyer may buy now; None for a product without a limit.
    Read-only, inside the caller's transaction."""
    orders, left = OrderRepo(session), dict[int, int | None]()
    for product in products:
        if not limited(product):
            left[product.id] = None
            continue
        assert product.limit_units is not None and product.limit_days is not None  # limited()
        bought = await orders.units_bought(user_id, product.id, now - timedelta(days=product.limit_days))
        left[product.id] = max(product.limit_units - bought, 0)
    return left


async def check_limits(
    session: AsyncSession, user_id: int, wanted: Sequence[tuple[Product, int]], now: datetime
) -> None:
    """Raises LimitReached for the first product the buyer may not buy this many of now: its quantities (one per
    variant in a cart) together. Read-only."""
    products, quantities = dict[int, Product](), dict[int, int]()
    for product, quantity in wanted:
        products[product.id] = product
        quantities[product.id] = quantities.get(product.id, 0) + quantity
    left = await limits_left(session, user_id, list(products.values()), now)
    for product in products.values():
        refuse_beyond_limit(product, quantities[product.id], left[product.id])


def refuse_beyond_limit(product: Product, quantity: int, left: int | None) -> None:
    """Raises LimitReached when the buyer may not buy `quantity` of the product now, their limit leaving them
    `left` more (limits_left; None: no limit)."""
    if left is not None and quantity > left:
        assert product.limit_units is not None and product.limit_days is not None  # left is None without
        raise LimitReached(product.name, left, product.limit_units, product.limit_days)
