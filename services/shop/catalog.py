"""Browsing: categories -> subcategories -> products, and the product card.

Buyers see only categories and subcategories with something on sale under them; a product list shows each
product's price and available units, counted in the page's one query.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from repositories.cart import CartRepo
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from services.dto import NamedItem, Page, ProductCard, ProductRow
from services.money import from_minor
from services.pricing import PriceLine, price
from services.shop.prices import buyer_terms

PAGE_SIZE = 8


class NotFound(Exception):
    """The thing a button points at is gone or inactive."""


class CatalogService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def categories(self, page: int) -> Page[NamedItem]:
        """The categories with a product on sale. Read-only."""
        async with read_only(self._session):
            rows, more = await CatalogRepo(self._session).page(CatalogRepo.categories(for_buyers=True), page, PAGE_SIZE)
        return Page([NamedItem(c.id, c.name) for c in rows], page, more)

    async def subcategories(self, category_id: int, page: int) -> Page[NamedItem]:
        """The category's subcategories with a product on sale. Read-only. Raises NotFound for a missing or
        inactive category."""
        async with read_only(self._session):
            repo = CatalogRepo(self._session)
            category = await repo.category(category_id)
            if category is None or not category.is_active:
                raise NotFound
            rows, more = await repo.page(CatalogRepo.subcategories(category_id, for_buyers=True), page, PAGE_SIZE)
        return Page([NamedItem(s.id, s.name) for s in rows], page, more, parent_id=category_id, title=category.name)

    async def products(self, subcategory_id: int, page: int) -> Page[ProductRow]:
        """The subcategory's active products with price and available units. Read-only. Raises NotFound for a
        missing or inactive subcategory (or category)."""
        async with read_only(self._session):
            repo = CatalogRepo(self._session)
            sub = await repo.subcategory(subcategory_id)
            category = await repo.category(sub.category_id) if sub else None
            if sub is None or not sub.is_active or category is None or not category.is_active:
                raise NotFound
            rows, more = await repo.page(CatalogRepo.products_with_stock(subcategory_id), page, PAGE_SIZE)
        items = [ProductRow(p.id, p.name, from_minor(p.price_minor), int(available)) for p, available in rows]
        return Page(items, page, more, parent_id=sub.category_id, title=sub.name)

    async def product(self, product_id: int, user_id: int) -> ProductCard:
        """The card with live availability and what one costs this buyer (their reseller price, their tier).
        Raises NotFound for a deleted product (inactive ones are shown). Read-only."""
        async with read_only(self._session):
            repo = CatalogRepo(self._session)
            product = await repo.product(product_id)
            if product is None:
                raise NotFound
            one = PriceLine(
                product.id,
                (await repo.categories_of([product.id]))[product.id],
                1,
                product.price_minor,
                product.reseller_price_minor,
            )
            theirs = price([one], await buyer_terms(self._session, user_id))
            available = (await StockRepo(self._session).available([product_id]))[product_id]
            on_sale = product_id in await repo.on_sale([product_id])
            in_cart = next(
                (item.quantity for item, p in await CartRepo(self._session).lines(user_id) if p.id == product_id), 0
            )
        return ProductCard(
            id=product.id,
            subcategory_id=product.subcategory_id,
            name=product.name,
            description=product.description,
            price=from_minor(product.price_minor),
            kind=product.kind,
            on_sale=on_sale,
            available=available,
            in_cart=in_cart,
            your_price=from_minor(theirs.total) if theirs.total < theirs.subtotal else None,
            reseller=bool(theirs.reseller_discount),
            tier_name=theirs.tier_name,
        )
