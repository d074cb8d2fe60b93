"""The catalog tree and its stock units as catalog imports and exports see them. Flushes, never commits."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Category, Product, StockUnit, Subcategory
from models.enums import ProductKind, StockStatus

INSERT_CHUNK = 1000  # rows per executemany: bounded memory, and few round trips for 10,000 units
# The pg_advisory_xact_lock key that serialises imports ("catalog" in ASCII, fits a signed bigint).
_IMPORT_LOCK_KEY = int.from_bytes(b"catalog", "big")


class InventoryRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lock_for_import(self) -> None:
        """Hold the catalog import lock until the transaction ends, so concurrent imports run one after another.

        PostgreSQL: a transaction-level advisory lock (checkouts never wait for it). SQLite: nothing to do,
        the transaction began with BEGIN IMMEDIATE and so already runs alone among writers.
        """
        if self._s.get_bind().dialect.name == "postgresql":
            await self._s.execute(select(func.pg_advisory_xact_lock(_IMPORT_LOCK_KEY)))

    async def tree(self) -> tuple[Sequence[Category], Sequence[Subcategory], Sequence[Product]]:
        """Every category, subcategory and product, active or not, each in creation order."""
        categories = (await self._s.scalars(select(Category).order_by(Category.id))).all()
        subcategories = (await self._s.scalars(select(Subcategory).order_by(Subcategory.id))).all()
        products = (await self._s.scalars(select(Product).order_by(Product.id))).all()
        return categories, subcategories, products

    async def unit_counts(self) -> dict[tuple[int, StockStatus], int]:
        """Number of units per (product id, status); pairs with no unit are absent."""
        result = await self._s.execute(
            select(StockUnit.product_id, StockUnit.status, func.count()).group_by(
                StockUnit.product_id, StockUnit.status
            )
        )
        return {(int(pid), StockStatus(status)): int(n) for pid, status, n in result.all()}

    async def payload_digests(self, product_id: int) -> set[str]:
        """Keyed digests of every unit of the product that has a payload, whatever its status."""
        result = await self._s.scalars(
            select(StockUnit.payload_digest).where(
                StockUnit.product_id == product_id, StockUnit.payload_digest.is_not(None)
            )
        )
        return {d for d in result if d is not None}

    async def available_payloads(self) -> dict[int, list[bytes]]:
        """Sealed payloads of units neither reserved nor sold, per product id, oldest first."""
        result = await self._s.execute(
            select(StockUnit.product_id, StockUnit.payload_enc)
            .where(StockUnit.status == StockStatus.available, StockUnit.payload_enc.is_not(None))
            .order_by(StockUnit.id)
        )
        payloads: dict[int, list[bytes]] = {}
        for pid, blob in result.all():
            payloads.setdefault(int(pid), []).append(bytes(blob))
        return payloads

    async def add_category(self, name: str) -> Category:
        category = Category(name=name, is_active=True)
        self._s.add(category)
        await self._s.flush()
        return category

    async def add_subcategory(self, category_id: int, name: str) -> Subcategory:
        subcategory = Subcategory(category_id=category_id, name=name, is_active=True)
        self._s.add(subcategory)
        await self._s.flush()
        return subcategory

    async def add_product(
        self, subcategory_id: int, name: str, description: str, price_minor: int, kind: ProductKind
    ) -> Product:
        product = Product(
            subcategory_id=subcategory_id,
            name=name,
            description=description,
            price_minor=price_minor,
            kind=kind,
            is_active=True,
        )
        self._s.add(product)
        await self._s.flush()
        return product

    async def add_units(self, product_id: int, payloads: Sequence[tuple[bytes, str] | None], at: datetime) -> None:
        """Insert one available unit per item: (sealed payload, digest) for digital goods, None for physical ones.

        Chunked executemany, no ORM objects. A digest already stored for the product violates
        uq_stock_units_product_id_payload_digest: the caller filters those out first.
        """
        for start in range(0, len(payloads), INSERT_CHUNK):
            rows: list[dict[str, Any]] = [
                {
                    "product_id": product_id,
                    "status": StockStatus.available,
                    "created_at": at,
                    "payload_enc": item[0] if item else None,
                    "payload_digest": item[1] if item else None,
                }
                for item in payloads[start : start + INSERT_CHUNK]
            ]
            await self._s.execute(insert(StockUnit), rows)
