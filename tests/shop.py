"""Seeding a catalog straight into the database, for tests that start from a stocked shop."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.enums import ProductKind
from models.shop import Category, Product, Subcategory, Variant
from models.types import utcnow
from repositories.stock import StockRepo
from services.wallet.goods import GoodsCipher


def plain_product(*, price_minor: int, **fields: Any) -> Product:
    """A product as before variants: one unnamed variant at `price_minor` (add it, then flush, then its stock
    units name `product.variants[0].id`)."""
    return Product(**fields, variants=[Variant(name="", price_minor=price_minor)])


async def variant_of(s: AsyncSession, product_id: int) -> int:
    """The id of a plain product's one variant."""
    return (await s.execute(select(Variant.id).where(Variant.product_id == product_id))).scalar_one()


async def seed_product(
    sessions: async_sessionmaker[AsyncSession],
    *,
    name: str = "Editor Pro 1y",
    price_minor: int = 1250,
    units: int = 5,
    kind: ProductKind = ProductKind.digital,
    goods: GoodsCipher | None = None,
    category: str = "Software",
    subcategory: str = "Licences",
) -> int:
    """A product with `units` available units (digital payloads KEY-<name>-<n>, sealed); returns its id."""
    async with sessions.begin() as s:
        cat = Category(name=category)
        s.add(cat)
        await s.flush()
        sub = Subcategory(category_id=cat.id, name=subcategory)
        s.add(sub)
        await s.flush()
        product = plain_product(
            subcategory_id=sub.id, name=name, description="One-year licence key", price_minor=price_minor, kind=kind
        )
        s.add(product)
        await s.flush()
        sealed = goods is not None and kind is ProductKind.digital
        payloads = [f"KEY-{name}-{n:04d}" for n in range(units)]
        await StockRepo(s).add_units(
            product.id,
            product.variants[0].id,
            [(goods.seal(p, product.id), goods.digest(p)) if goods and sealed else None for p in payloads],
            utcnow(),
        )
        return product.id
