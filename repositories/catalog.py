"""Categories, subcategories and products: browsing, the admin's tree, imports and deletion. Flushes, never
commits.

Buyers see what is on sale (`_on_sale`) and the nodes above it; the admin panel and imports see everything.
Stock units are repositories.stock.StockRepo's.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import OrderStatus, ProductKind
from models.orders import Order, OrderItem
from models.shop import CartItem, Category, Product, Subcategory, Variant, search_key
from repositories.base import page_of
from repositories.loyalty import Standing, with_standing
from repositories.reviews import ReviewRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo

Node = Category | Subcategory | Product
# A product in a buyer's list: the product, its available units (None: unlimited), and its active variants'
# lowest and highest price.
Listed = tuple[Product, int | None, int, int]
# The pg_advisory_xact_lock key that serialises imports ("catalog" in ASCII, fits a signed bigint).
_IMPORT_LOCK_KEY = int.from_bytes(b"catalog", "big")


def _listed() -> Select[Listed]:
    """Products with what a buyer's list shows of each, counted in the list's one query."""
    return select(
        Product,
        StockRepo.available_count(),
        VariantRepo.lowest_price(Product.id),
        VariantRepo.highest_price(Product.id),
    )


def _for_sale() -> ColumnElement[bool]:
    """What buyers may buy: an active product in an active subcategory of an active category."""
    return and_(Product.is_active, Subcategory.is_active, Category.is_active)


def variant_on_sale() -> ColumnElement[bool]:
    """A variant buyers may buy: active, of a product on sale (`_for_sale`); the statement joins the variant's
    product, its subcategory and their category."""
    return and_(Variant.is_active, _for_sale())


def _on_sale(column: SQLColumnExpression[int]) -> Select[tuple[int]]:
    """`column` of every product buyers may buy (`_for_sale`)."""
    return (
        select(column)
        .select_from(Product)
        .join(Subcategory, Subcategory.id == Product.subcategory_id)
        .join(Category, Category.id == Subcategory.category_id)
        .where(_for_sale())
    )


@functools.cache
def _shelf() -> Select[tuple[Any, ...]]:
    """CatalogRepo.shelf's statement, with the parameters `product_id`, `user_id` and `setting`; built once, as the
    card and add-to-cart run it on every press. One row per active variant, by id (one row without a variant
    when the product has none), each with what the card shows beside it: the buyer's cart lines, the rating and
    the buyer's standing, each a one-row read joined to every row."""
    user_id = bindparam("user_id", type_=BigInteger)
    held = select(CartItem.quantity).where(CartItem.user_id == user_id, CartItem.variant_id == Variant.id)
    held_of_product = select(func.coalesce(func.sum(CartItem.quantity), 0)).where(
        CartItem.user_id == user_id, CartItem.product_id == Product.id
    )
    rating = ReviewRepo.rating_of_product().subquery("rating")
    shelf = (
        select(
            Product,
            Subcategory.category_id,
            _for_sale(),
            Variant,
            StockRepo.variant_left(),
            held.scalar_subquery(),
            held_of_product.scalar_subquery(),
            *rating.c,
        )
        .join(Subcategory, Subcategory.id == Product.subcategory_id)
        .join(Category, Category.id == Subcategory.category_id)
        .outerjoin(Variant, and_(Variant.product_id == Product.id, Variant.is_active))
        .join(rating, true())
    )
    return with_standing(shelf, user_id, user_id).where(Product.id == bindparam("product_id")).order_by(Variant.id)


@dataclass(frozen=True, slots=True)
class Shelf:
    """A product as one buyer finds it (`CatalogRepo.shelf`): its category, whether it is on sale (`_for_sale`),
    its active variants and their available units, what the buyer's cart holds of it, its rating and the
    buyer's standing (their prices)."""

    product: Product
    category_id: int
    for_sale: bool
    offered: list[Variant]  # by id
    left: dict[int, int | None]  # units of each offered variant (None: unlimited)
    in_cart: dict[int, int]  # the cart's quantity of each offered variant it holds
    in_cart_of_product: int  # all the product's lines of the cart together, a retired variant's too
    rating: tuple[int, int]  # ReviewRepo.rating_of_product
    standing: Standing


@functools.cache
def _categories(for_buyers: bool) -> Select[tuple[Category]]:
    stmt = select(Category).order_by(Category.name, Category.id)
    return stmt.where(Category.id.in_(_on_sale(Category.id))) if for_buyers else stmt


@functools.cache
def _subcategories(for_buyers: bool) -> Select[tuple[Subcategory]]:
    """With the parameter `category_id`."""
    stmt = (
        select(Subcategory)
        .where(Subcategory.category_id == bindparam("category_id"))
        .order_by(Subcategory.name, Subcategory.id)
    )
    return stmt.where(Subcategory.id.in_(_on_sale(Subcategory.id))) if for_buyers else stmt


@functools.cache
def _products_with_stock() -> Select[Listed]:
    """With the parameter `subcategory_id`."""
    return (
        _listed()
        .where(Product.subcategory_id == bindparam("subcategory_id"), Product.is_active)
        .order_by(Product.name, Product.id)
    )


@functools.cache
def _category() -> Select[tuple[Category]]:
    """With the parameter `category_id`."""
    return select(Category).where(Category.id == bindparam("category_id"))


@functools.cache
def _subcategory() -> Select[tuple[Subcategory, Category]]:
    """With the parameter `subcategory_id`."""
    return (
        select(Subcategory, Category)
        .join(Category, Category.id == Subcategory.category_id)
        .where(Subcategory.id == bindparam("subcategory_id"))
    )


@functools.cache
def _categories_of() -> Select[tuple[int, int]]:
    """With the parameter `product_ids` (a list)."""
    return (
        select(Product.id, Subcategory.category_id)
        .join(Subcategory, Subcategory.id == Product.subcategory_id)
        .where(Product.id.in_(bindparam("product_ids", expanding=True)))
    )


@functools.cache
def _variants_on_sale() -> Select[tuple[int]]:
    """With the parameter `variant_ids` (a list); built once."""
    return (
        select(Variant.id)
        .join(Product, Product.id == Variant.product_id)
        .join(Subcategory, Subcategory.id == Product.subcategory_id)
        .join(Category, Category.id == Subcategory.category_id)
        .where(Variant.id.in_(bindparam("variant_ids", expanding=True)), variant_on_sale())
    )


class CatalogRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def page(self, stmt: Select[Any], page: int, size: int) -> tuple[list[Any], bool]:
        return await page_of(self._s, stmt, page, size)

    @staticmethod
    def products(subcategory_id: int) -> Select[tuple[Product]]:
        """Every product of the subcategory, active or not."""
        return select(Product).where(Product.subcategory_id == subcategory_id).order_by(Product.name, Product.id)

    async def categories_page(self, page: int, size: int, *, for_buyers: bool) -> tuple[list[Category], bool]:
        """Every category, or (for buyers) those with a product on sale, by name."""
        return await page_of(self._s, _categories(for_buyers), page, size)

    async def subcategories_page(
        self, category_id: int, page: int, size: int, *, for_buyers: bool
    ) -> tuple[list[Subcategory], bool]:
        """The category's subcategories, or (for buyers) those with a product on sale, by name."""
        return await page_of(self._s, _subcategories(for_buyers), page, size, {"category_id": category_id})

    async def products_with_stock_page(self, subcategory_id: int, page: int, size: int) -> tuple[list[Listed], bool]:
        """The subcategory's active products, each with its available units and prices (`Listed`), by name: one
        query for a page."""
        return await page_of(self._s, _products_with_stock(), page, size, {"subcategory_id": subcategory_id})

    @staticmethod
    def search(text: str) -> Select[Listed]:
        """Products on sale whose name, or one of whose variants' names a buyer can choose, contains `text`,
        compared as models.shop.search_key folds both (so "über" finds "ÜBERSICHT" on SQLite and PostgreSQL
        alike), with their available units and prices, by name."""
        key = search_key(text)
        variant_named = select(Variant.product_id).where(
            Variant.is_active, Variant.name_folded.contains(key, autoescape=True)
        )
        return (
            _listed()
            .where(
                Product.id.in_(_on_sale(Product.id)),
                or_(Product.name_folded.contains(key, autoescape=True), Product.id.in_(variant_named)),
            )
            .order_by(Product.name, Product.id)
        )

    @staticmethod
    def best_sellers() -> Select[Listed]:
        """Products on sale by units sold (in paid and shipped orders), most first, with their available units."""
        sold = (
            select(OrderItem.product_id, func.sum(OrderItem.quantity).label("units"))
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.status.in_(OrderStatus.sold()))
            .group_by(OrderItem.product_id)
            .subquery()
        )
        return (
            _listed()
            .join(sold, sold.c.product_id == Product.id)
            .where(Product.id.in_(_on_sale(Product.id)))
            .order_by(sold.c.units.desc(), Product.name, Product.id)
        )

    @staticmethod
    def stock_list() -> Select[tuple[str, str, Product, int | None, int, int]]:
        """Every product on sale with its category's and subcategory's names, its available units and its
        variants' lowest and highest price, in catalog order."""
        return (
            select(
                Category.name,
                Subcategory.name,
                Product,
                StockRepo.available_count(),
                VariantRepo.lowest_price(Product.id),
                VariantRepo.highest_price(Product.id),
            )
            .join(Subcategory, Subcategory.id == Product.subcategory_id)
            .join(Category, Category.id == Subcategory.category_id)
            .where(Product.id.in_(_on_sale(Product.id)))
            .order_by(Category.name, Category.id, Subcategory.name, Subcategory.id, Product.name, Product.id)
        )

    async def category(self, category_id: int) -> Category | None:
        return (await self._s.execute(_category(), {"category_id": category_id})).scalar_one_or_none()

    async def subcategory(self, subcategory_id: int) -> tuple[Subcategory, Category] | None:
        """The subcategory with its category."""
        row = (await self._s.execute(_subcategory(), {"subcategory_id": subcategory_id})).one_or_none()
        return None if row is None else (row[0], row[1])

    async def product(self, product_id: int) -> Product | None:
        return await self._s.get(Product, product_id)

    async def shelf(self, product_id: int, user_id: int, setting: str) -> Shelf | None:
        """The product as the buyer `user_id` finds it, with the shop setting `setting` (LoyaltyRepo.standing), in
        one statement; None for a deleted product."""
        params = {"product_id": product_id, "user_id": user_id, "setting": setting}
        rows = (await self._s.execute(_shelf(), params)).tuples().all()
        if not rows:
            return None
        product, category_id, for_sale, _, _, _, of_product, count, stars, reseller, tier, stored = rows[0]
        offered = [row[3] for row in rows if row[3] is not None]
        return Shelf(
            product,
            int(category_id),
            bool(for_sale),
            offered,
            {v.id: None if left is None else int(left) for _, _, _, v, left, *_ in rows if v is not None},
            {v.id: int(held) for _, _, _, v, _, held, *_ in rows if v is not None and held},
            int(of_product),
            (int(count), int(stars)),
            Standing.of(reseller, tier, stored),
        )

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

    async def variants_on_sale(self, variant_ids: Sequence[int]) -> set[int]:
        """The variants buyers may buy: active, of a product on sale."""
        if not variant_ids:
            return set()
        result = await self._s.execute(_variants_on_sale(), {"variant_ids": list(variant_ids)})
        return set(result.scalars())

    async def categories_of(self, product_ids: Sequence[int]) -> dict[int, int]:
        """The category of each product (the category of its subcategory)."""
        if not product_ids:
            return {}
        result = await self._s.execute(_categories_of(), {"product_ids": list(product_ids)})
        return {int(p): int(c) for p, c in result.tuples()}

    async def find_category(self, key: str) -> Category | None:
        """A category by id (digits) or exact name."""
        stmt = select(Category).where(
            Category.id == int(key) if key.isdigit() and len(key) < 10 else Category.name == key
        )
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def find_products(self, key: str) -> list[Product]:
        """Products by id (digits) or exact name; a name may be taken in several subcategories."""
        stmt = select(Product).where(Product.id == int(key) if key.isdigit() and len(key) < 10 else Product.name == key)
        return list((await self._s.execute(stmt.order_by(Product.id).limit(2))).scalars())

    async def contents(self, node: Node) -> tuple[int, list[int]]:
        """(how many subcategories, the ids of the products) under a node; a product holds itself."""
        if isinstance(node, Product):
            return 0, [node.id]
        if isinstance(node, Subcategory):
            return 0, list(await self._s.scalars(select(Product.id).where(Product.subcategory_id == node.id)))
        subcategories = list(await self._s.scalars(select(Subcategory.id).where(Subcategory.category_id == node.id)))
        if not subcategories:
            return 0, []
        products = await self._s.scalars(select(Product.id).where(Product.subcategory_id.in_(subcategories)))
        return len(subcategories), list(products)

    async def delete(self, node: Node) -> None:
        """Delete the node; the database deletes everything under it (ON DELETE CASCADE), and order items
        keep their product's name (order_items.product_id is SET NULL)."""
        model = type(node)
        await self._s.execute(delete(model).where(model.id == node.id))

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
        """A plain product: its one unnamed variant carries `price_minor` and will hold its stock."""
        product = Product(
            subcategory_id=subcategory_id,
            name=name,
            description=description,
            kind=kind,
            is_active=True,
            variants=[Variant(name="", price_minor=price_minor)],
        )
        self._s.add(product)
        await self._s.flush()
        return product
