"""A product's variants: what buyers choose between ("1 month", "12 months"), each with its own price and stock.
Flushes, never commits."""

import functools
from collections.abc import Sequence

from sqlalchemy import ScalarSelect, Select, SQLColumnExpression, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.orders import OrderItem
from models.shop import Variant


@functools.cache
def _of_products(active_only: bool) -> Select[tuple[Variant]]:
    """VariantRepo.of_products's statement, with the parameter `product_ids` (a list); built once
    (repositories.base): the card and add-to-cart read the product's variants on every press."""
    stmt = select(Variant).where(Variant.product_id.in_(bindparam("product_ids", expanding=True)))
    return (stmt.where(Variant.is_active) if active_only else stmt).order_by(Variant.id)


class VariantRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    @staticmethod
    def lowest_price(product_id: SQLColumnExpression[int]) -> ScalarSelect[int]:
        """The lowest price of the product's active variants, as a correlated subquery for product lists."""
        return (
            select(func.min(Variant.price_minor))
            .where(Variant.product_id == product_id, Variant.is_active)
            .scalar_subquery()
        )

    @staticmethod
    def highest_price(product_id: SQLColumnExpression[int]) -> ScalarSelect[int]:
        """The highest price of the product's active variants, as a correlated subquery for product lists."""
        return (
            select(func.max(Variant.price_minor))
            .where(Variant.product_id == product_id, Variant.is_active)
            .scalar_subquery()
        )

    async def get(self, variant_id: int, *, lock: bool = False) -> Variant | None:
        """The variant, active or not; locked for update on PostgreSQL when `lock`."""
        stmt = select(Variant).where(Variant.id == variant_id).execution_options(populate_existing=True)
        return (await self._s.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()

    async def of_products(self, product_ids: Sequence[int], *, active_only: bool = True) -> dict[int, list[Variant]]:
        """Each product's variants in the order they were added (every id is present)."""
        if not product_ids:
            return {}
        result = await self._s.execute(_of_products(active_only), {"product_ids": list(product_ids)})
        variants: dict[int, list[Variant]] = {pid: [] for pid in product_ids}
        for variant in result.scalars():
            variants[variant.product_id].append(variant)
        return variants

    async def of_product(self, product_id: int, *, active_only: bool = True) -> list[Variant]:
        return (await self.of_products([product_id], active_only=active_only))[product_id]

    async def chosen(self, product_id: int, variant_id: int) -> Variant | None:
        """The active variant of the product a buyer's button means (`choose`)."""
        return choose(await self.of_product(product_id), variant_id)

    async def renewed(self, order_id: int | None, product_id: int) -> Variant | None:
        """The variant a renewal of what `order_id` bought of the product sells: the one that order bought, while it
        is offered; else (deleted, retired, or the order gone) `chosen(product_id, 0)`."""
        if order_id is not None:
            result = await self._s.execute(
                select(Variant)
                .join(OrderItem, OrderItem.variant_id == Variant.id)
                .where(OrderItem.order_id == order_id, OrderItem.product_id == product_id, Variant.is_active)
                .limit(1)
            )
            if (bought := result.scalar_one_or_none()) is not None:
                return bought
        return await self.chosen(product_id, 0)

    async def named(self, product_id: int, name: str) -> Variant | None:
        result = await self._s.execute(select(Variant).where(Variant.product_id == product_id, Variant.name == name))
        return result.scalar_one_or_none()

    async def add(
        self, product_id: int, name: str, price_minor: int, reseller_price_minor: int | None = None
    ) -> Variant:
        variant = Variant(
            product_id=product_id, name=name, price_minor=price_minor, reseller_price_minor=reseller_price_minor
        )
        self._s.add(variant)
        await self._s.flush()
        return variant

    async def delete(self, variant_id: int) -> None:
        """Delete the variant; the database deletes its units (ON DELETE CASCADE), cart lines holding it too,
        and order items keep its name (order_items.variant_id is SET NULL)."""
        await self._s.execute(delete(Variant).where(Variant.id == variant_id))


def choose(offered: Sequence[Variant], variant_id: int) -> Variant | None:
    """Of a product's active variants `offered`, the one a buyer's button means: `variant_id`, which must be one
    of them; or, for 0, the only one (a plain product). None for anything else: another product's variant, a
    deleted or retired one, or 0 where there is a choice to make."""
    if variant_id == 0:
        return offered[0] if len(offered) == 1 else None
    return next((v for v in offered if v.id == variant_id), None)
