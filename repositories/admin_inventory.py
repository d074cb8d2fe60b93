"""The catalog tree as the admin panel sees it: inactive nodes included. Flushes, never commits.

Paging is repositories.catalog.CatalogRepo.page; inserting nodes and units goes through
repositories.inventory.InventoryRepo, shared with catalog imports.
"""

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Category, Product, StockUnit, Subcategory
from models.enums import StockStatus

Node = Category | Subcategory | Product


class AdminInventoryRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    @staticmethod
    def categories() -> Select[tuple[Category]]:
        return select(Category).order_by(Category.name, Category.id)

    @staticmethod
    def subcategories(category_id: int) -> Select[tuple[Subcategory]]:
        return (
            select(Subcategory).where(Subcategory.category_id == category_id).order_by(Subcategory.name, Subcategory.id)
        )

    @staticmethod
    def products(subcategory_id: int) -> Select[tuple[Product]]:
        return select(Product).where(Product.subcategory_id == subcategory_id).order_by(Product.name, Product.id)

    async def get(self, model: type[Node], node_id: int, *, lock: bool = False) -> Node | None:
        """The row, locked for update on PostgreSQL when `lock` (SQLite's transaction already is)."""
        stmt = select(model).where(model.id == node_id).execution_options(populate_existing=True)
        row = (await self._s.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()
        return row if isinstance(row, Category | Subcategory | Product) else None

    async def sibling_named(self, model: type[Node], parent_id: int | None, name: str) -> int | None:
        """The id of the node called `name` under the same parent (names are unique there), if any."""
        stmt: Select[tuple[int]]
        if model is Category:
            stmt = select(Category.id).where(Category.name == name)
        elif model is Subcategory:
            stmt = select(Subcategory.id).where(Subcategory.category_id == parent_id, Subcategory.name == name)
        else:
            stmt = select(Product.id).where(Product.subcategory_id == parent_id, Product.name == name)
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def unit_counts(self, product_id: int) -> dict[StockStatus, int]:
        """Units of one product per status; every status is present."""
        result = await self._s.execute(
            select(StockUnit.status, func.count()).where(StockUnit.product_id == product_id).group_by(StockUnit.status)
        )
        counts = {StockStatus(status): int(n) for status, n in result.all()}
        return {status: counts.get(status, 0) for status in StockStatus}
