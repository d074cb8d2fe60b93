"""Browsing: categories -> subcategories -> products, and the product card; finding things: search by name,
best sellers, and the stock list.

Buyers see only categories and subcategories with something on sale under them; a product list shows each
product's price and available units, counted in the page's one query. A category's picture is shown above the
lists inside it; a product's on its card.
"""

from collections.abc import Sequence

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.shop import Product, WithMedia
from models.types import utcnow
from repositories.catalog import CatalogRepo, Listed, Shelf
from repositories.variants import choose
from services.dto import BuyerLimit, Media, NamedItem, Page, ProductCard, ProductRow, Rating, StockLine, VariantChoice
from services.money import from_minor
from services.pricing import PriceLine, price
from services.shop.limits import limits_left
from services.shop.prices import STACK, terms_of

PAGE_SIZE = 8
STOCK_PAGE_SIZE = 20  # lines of /stock per message: names are shortened so a page fits Telegram's 4096
SEARCH_MIN, SEARCH_MAX = 2, 64  # characters of a search: one letter matches nearly everything


class SearchRefused(Exception):
    """The search text is shorter than SEARCH_MIN or longer than SEARCH_MAX characters."""


def media_of(row: WithMedia) -> Media | None:
    if row.media_type is None or row.media_file_id is None or row.media_unique_id is None:
        return None
    return Media(row.media_type, row.media_file_id, row.media_unique_id)


def line_name(product_name: str, variant_name: str) -> str:
    """What a card, a cart line and an order line call one variant: "Editor Pro · 12 months", or the product's
    name alone for a plain product's unnamed variant."""
    return f"{product_name} · {variant_name}" if variant_name else product_name


def _rows(rows: Sequence[Listed]) -> list[ProductRow]:
    return [
        ProductRow(p.id, p.name, from_minor(low or 0), available, price_varies=low != high)
        for p, available, low, high in rows
    ]


def _summed(counts: Sequence[int | None]) -> int | None:
    """The units of several variants together; None (never sells out) for an unlimited product's."""
    return None if None in counts else sum(c for c in counts if c is not None)


class NotFound(Exception):
    """The thing a button points at is gone or inactive."""


class VariantRefused(Exception):
    """The variant a button names is not one this product offers: another product's, deleted or retired, or
    none where the buyer must choose."""


async def read_shelf(session: AsyncSession, product_id: int, user_id: int) -> Shelf | None:
    """The product as the buyer finds it (CatalogRepo.shelf), inside the caller's transaction; None for a
    deleted product."""
    return await CatalogRepo(session).shelf(product_id, user_id, STACK)


async def room_under_limit(session: AsyncSession, user_id: int, product: Product) -> int | None:
    """How many more of the product the buyer may buy now (services.shop.limits); None without a limit, which
    reads nothing."""
    return (await limits_left(session, user_id, [product], utcnow()))[product.id]


def product_card(shelf: Shelf, variant_id: int, limit_left: int | None) -> ProductCard:
    """The card of `shelf` for the variant `variant_id` (see CatalogService.product), the buyer's limit leaving
    them `limit_left` more (`room_under_limit`)."""
    product, offered, left = shelf.product, shelf.offered, shelf.left
    chosen = choose(offered, variant_id)
    refused = chosen is None and variant_id != 0
    if refused:
        chosen = choose(offered, 0)
    shown = [chosen] if chosen else offered
    cheapest = min(shown, key=lambda v: v.price_minor, default=None)
    one = PriceLine(
        product.id,
        shelf.category_id,
        1,
        cheapest.price_minor if cheapest else 0,
        cheapest.reseller_price_minor if cheapest else None,
    )
    theirs = price([one], terms_of(shelf.standing))
    return ProductCard(
        id=product.id,
        subcategory_id=product.subcategory_id,
        name=line_name(product.name, chosen.name if chosen else ""),
        description=product.description,
        price=from_minor(one.unit_minor),
        kind=product.kind,
        on_sale=shelf.for_sale and bool(offered),
        available=_summed([left[v.id] for v in shown]),
        in_cart=shelf.in_cart.get(chosen.id, 0) if chosen else shelf.in_cart_of_product,
        media=media_of(product),
        rating=Rating(*shelf.rating),
        your_price=from_minor(theirs.total) if theirs.total < theirs.subtotal else None,
        reseller=bool(theirs.reseller_discount),
        tier_name=theirs.tier_name,
        limit=BuyerLimit(product.limit_units, product.limit_days, limit_left)
        if limit_left is not None and product.limit_units is not None and product.limit_days is not None
        else None,
        warranty_days=product.warranty_days,
        variants=tuple(VariantChoice(v.id, v.name, from_minor(v.price_minor), left[v.id]) for v in offered),
        variant_id=chosen.id if chosen else 0,
        variant_refused=refused,
    )


class CatalogService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def categories(self, page: int) -> Page[NamedItem]:
        """The categories with a product on sale. Read-only."""
        async with read_only(self._session):
            rows, more = await CatalogRepo(self._session).categories_page(page, PAGE_SIZE, for_buyers=True)
        return Page([NamedItem(c.id, c.name) for c in rows], page, more)

    async def subcategories(self, category_id: int, page: int) -> Page[NamedItem]:
        """The category's subcategories with a product on sale. Read-only. Raises NotFound for a missing or
        inactive category."""
        async with read_only(self._session):
            repo = CatalogRepo(self._session)
            category = await repo.category(category_id)
            if category is None or not category.is_active:
                raise NotFound
            rows, more = await repo.subcategories_page(category_id, page, PAGE_SIZE, for_buyers=True)
        return Page(
            [NamedItem(s.id, s.name) for s in rows],
            page,
            more,
            parent_id=category_id,
            title=category.name,
            media=media_of(category),
        )

    async def products(self, subcategory_id: int, page: int) -> Page[ProductRow]:
        """The subcategory's active products with price and available units. Read-only. Raises NotFound for a
        missing or inactive subcategory (or category)."""
        async with read_only(self._session):
            repo = CatalogRepo(self._session)
            found = await repo.subcategory(subcategory_id)
            if found is None or not found[0].is_active or not found[1].is_active:
                raise NotFound
            sub, category = found
            rows, more = await repo.products_with_stock_page(subcategory_id, page, PAGE_SIZE)
        return Page(_rows(rows), page, more, parent_id=sub.category_id, title=sub.name, media=media_of(category))

    async def product(self, product_id: int, user_id: int, variant_id: int = 0) -> ProductCard:
        """The card with live availability and what one costs this buyer (their reseller price, their tier), for
        the variant `variant_id` (0: the only one, or none chosen when there are several). A variant that is
        not one this product offers is not chosen and the card says `variant_refused`. Raises NotFound for a
        deleted product (inactive ones are shown). Read-only."""
        async with read_only(self._session):
            shelf = await read_shelf(self._session, product_id, user_id)
            if shelf is None:
                raise NotFound
            return product_card(shelf, variant_id, await room_under_limit(self._session, user_id, shelf.product))

    async def search(self, text: str, page: int) -> Page[ProductRow]:
        """Products on sale whose name contains `text`, ignoring case (Unicode-aware: "über" finds
        "ÜBERSICHT"), by name, with price and available units. Read-only. Raises SearchRefused for a text
        shorter than SEARCH_MIN or longer than SEARCH_MAX characters (surrounding spaces do not count)."""
        text = text.strip()
        if not SEARCH_MIN <= len(text) <= SEARCH_MAX:
            raise SearchRefused
        return await self._product_page(CatalogRepo.search(text), page, title=text)

    async def best_sellers(self, page: int) -> Page[ProductRow]:
        """Products on sale that have sold, most units sold first (paid and shipped orders, all time). Read-only."""
        return await self._product_page(CatalogRepo.best_sellers(), page)

    async def stock(self, page: int) -> Page[StockLine]:
        """Every product on sale with what is left, in catalog order, STOCK_PAGE_SIZE per page. Read-only."""
        async with read_only(self._session):
            rows, more = await CatalogRepo(self._session).page(CatalogRepo.stock_list(), page, STOCK_PAGE_SIZE)
        lines = [
            StockLine(f"{category} / {subcategory}", p.id, p.name, from_minor(low or 0), available, low != high)
            for category, subcategory, p, available, low, high in rows
        ]
        return Page(lines, page, more)

    async def _product_page(self, stmt: Select[Listed], page: int, title: str = "") -> Page[ProductRow]:
        async with read_only(self._session):
            rows, more = await CatalogRepo(self._session).page(stmt, page, PAGE_SIZE)
        return Page(_rows(rows), page, more, title=title)
