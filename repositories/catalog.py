"""Read queries for browsing the catalog."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Category, Product, StockUnit, Subcategory
from models.enums import StockStatus


class CatalogRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def page(self, stmt: Select[Any], page: int, size: int) -> tuple[list[Any], bool]:
        """One page of rows, and whether another page follows."""
        rows = list((await self._s.execute(stmt.offset(page * size).limit(size + 1))).scalars())
        return rows[:size], len(rows) > size

    @staticmethod
    def categories() -> Select[tuple[Category]]:
        return select(Category).where(Category.is_active).order_by(Category.name, Category.id)

    @staticmethod
    def subcategories(category_id: int) -> Select[tuple[Subcategory]]:
        return (
            select(Subcategory)
            .where(Subcategory.category_id == category_id, Subcategory.is_active)
            .order_by(Subcategory.name, Subcategory.id)
        )

    @staticmethod
    def products(subcategory_id: int) -> Select[tuple[Product]]:
        return (
            select(Product)
            .where(Product.subcategory_id == subcategory_id, Product.is_active)
            .order_by(Product.name, Product.id)
        )

    async def category(self, category_id: int) -> Category | None:
        return await self._s.get(Category, category_id)

    async def subcategory(self, subcategory_id: int) -> Subcategory | None:
        return await self._s.get(Subcategory, subcategory_id)

    async def product(self, product_id: int) -> Product | None:
        return await self._s.get(Product, product_id)

    async def on_sale(self, product_ids: Sequence[int]) -> set[int]:
        """The products buyers may buy: active, in an active subcategory of an active category."""
        if not product_ids:
            return set()
        result = await self._s.execute(
            select(Product.id)
            .join(Subcategory, Subcategory.id == Product.subcategory_id)
            .join(Category, Category.id == Subcategory.category_id)
            .where(Product.id.in_(product_ids), Product.is_active, Subcategory.is_active, Category.is_active)
        )
        return set(result.scalars())

    async def available(self, product_ids: Sequence[int]) -> dict[int, int]:
        """Units neither reserved nor sold, per product (missing ids count 0)."""
        if not product_ids:
            return {}
        result = await self._s.execute(
            select(StockUnit.product_id, func.count())
            .where(StockUnit.product_id.in_(product_ids), StockUnit.status == StockStatus.available)
            .group_by(StockUnit.product_id)
        )
        counts = {int(pid): int(n) for pid, n in result.all()}
        return {pid: counts.get(pid, 0) for pid in product_ids}
