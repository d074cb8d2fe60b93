import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import BindParameter, Delete, Select, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from models.promotions import CartVoucher, Voucher
from models.shop import CartItem, Category, Product, Subcategory, Variant
from repositories.base import Dialect, dialect_of, insert_on_conflict
from repositories.catalog import variant_on_sale
from repositories.credit import balance_column
from repositories.loyalty import Standing, with_standing
from repositories.orders import OrderRepo
from repositories.stock import StockRepo

CartRow = tuple[CartItem, Product, Variant]  # a cart line, what it is a line of, and which variant


@dataclass(frozen=True, slots=True)
class PricedCart:
    """The buyer's cart with what pricing and checkout read beside it, in one statement (CartRepo.to_price)."""

    lines: list[CartRow]
    categories: dict[int, int]  # each line's product id -> the category of its subcategory
    on_sale: set[int]  # the ids of the lines' variants buyers may buy now (repositories.catalog.variant_on_sale)
    left: dict[int, int | None]  # each line's variant id -> its units left by the counter (StockRepo.variant_left)
    voucher: Voucher | None  # the voucher whose code is on the cart


@dataclass(frozen=True, slots=True)
class BuyersCart:
    """The cart with what its price depends on besides, in one statement (CartRepo.to_price_for_buyer). An empty
    cart has nothing to price: its buyer's standing and credit are not read (None)."""

    cart: PricedCart
    standing: Standing | None
    credit_minor: int | None  # their store credit balance
    open_order: int | None = None  # their latest open order's id, when read (CartRepo.to_check_out)


def _priced(rows: Sequence[Sequence[Any]], voucher: Voucher | None) -> PricedCart:
    """A PricedCart from `_to_price`'s rows (a statement built on it may add columns after its seven)."""
    return PricedCart(
        [(item, product, variant) for item, product, variant, *_ in rows],
        {product.id: int(category) for _, product, _, category, *_ in rows},
        {variant.id for _, _, variant, _, on_sale, *_ in rows if on_sale},
        {variant.id: None if left is None else int(left) for _, _, variant, _, _, left, *_ in rows},
        voucher,
    )


# The statements browsing runs on every press, built once (repositories.base), each with the parameter `user_id`.


@functools.cache
def _lines() -> Select[CartRow]:
    return (
        select(CartItem, Product, Variant)
        .join(Product, Product.id == CartItem.product_id)
        .join(Variant, Variant.id == CartItem.variant_id)
        .where(CartItem.user_id == bindparam("user_id"))
        .order_by(CartItem.id)
    )


@functools.cache
def _to_price() -> Select[tuple[CartItem, Product, Variant, int, bool, int | None, Voucher]]:
    """CartRepo.to_price's statement: `_lines` with each product's category, whether buyers may buy the
    variant, its units left, and the cart's voucher (the same on every line; `_voucher`, fresh from the database
    as there)."""
    return (
        select(
            CartItem, Product, Variant, Subcategory.category_id, variant_on_sale(), StockRepo.variant_left(), Voucher
        )
        .join(Product, Product.id == CartItem.product_id)
        .join(Variant, Variant.id == CartItem.variant_id)
        .join(Subcategory, Subcategory.id == Product.subcategory_id)
        .join(Category, Category.id == Subcategory.category_id)
        .outerjoin(CartVoucher, CartVoucher.user_id == CartItem.user_id)
        .outerjoin(Voucher, Voucher.id == CartVoucher.voucher_id)
        .where(CartItem.user_id == bindparam("user_id"))
        .order_by(CartItem.id)
        .execution_options(populate_existing=True)
    )


@functools.cache
def _to_price_for_buyer() -> Select[Any]:
    """CartRepo.to_price_for_buyer's statement: `_to_price` with the buyer's standing (`with_standing`, the setting
    named by the parameter `setting`) and store credit balance on every line."""
    user_id: BindParameter[int] = bindparam("user_id")
    return with_standing(_to_price(), CartItem.user_id, user_id).add_columns(balance_column())


@functools.cache
def _to_check_out() -> Select[Any]:
    """CartRepo.to_check_out's statement: `_to_price_for_buyer` with the buyer's open order (OrderRepo's
    `open_order_column`) on every line."""
    return _to_price_for_buyer().add_columns(OrderRepo.open_order_column())


@functools.cache
def _add(dialect: Dialect) -> ReturningInsert[tuple[int]]:
    """The line's upsert, with the values of every column as parameters (`user_id`, `product_id`, `variant_id`,
    `quantity`): the quantity is added to the line's."""
    return insert_on_conflict(
        dialect,
        CartItem.__table__,  # type: ignore[arg-type]
        lambda insert: insert.on_conflict_do_update(
            index_elements=["user_id", "variant_id"],
            set_={"quantity": CartItem.quantity + insert.excluded.quantity},
        ),
    ).returning(CartItem.quantity)


@functools.cache
def _voucher() -> Select[tuple[Voucher]]:
    return (
        select(Voucher)
        .join(CartVoucher, CartVoucher.voucher_id == Voucher.id)
        .where(CartVoucher.user_id == bindparam("user_id"))
        .execution_options(populate_existing=True)
    )


@functools.cache
def _empty() -> tuple[Delete, Delete]:
    """The buyer `user_id`'s cart lines, and their voucher code: built once, every checkout empties a cart. Core
    DELETEs: no ORM sync of the session's objects (nothing reads a cart line back by its id)."""
    lines, code = CartItem.__table__.c, CartVoucher.__table__.c
    user_id: BindParameter[int] = bindparam("user_id")
    return (
        delete(CartItem.__table__).where(lines.user_id == user_id),  # type: ignore[arg-type]
        delete(CartVoucher.__table__).where(code.user_id == user_id),  # type: ignore[arg-type]
    )


class CartRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lines(self, user_id: int) -> list[CartRow]:
        result = await self._s.execute(_lines(), {"user_id": user_id})
        return [(item, product, variant) for item, product, variant in result.tuples()]

    async def to_price(self, user_id: int) -> PricedCart:
        """The cart's lines (`lines`) with what pricing them and checking them out reads besides (see
        PricedCart): one statement where `lines`, `voucher`, CatalogRepo's `categories_of` and
        `variants_on_sale` and StockRepo's `available_of_variants` are five. An empty cart may carry a code too:
        its voucher is read by `voucher`."""
        rows = (await self._s.execute(_to_price(), {"user_id": user_id})).tuples().all()
        return _priced(rows, rows[0][6] if rows else await self.voucher(user_id))

    async def to_price_for_buyer(self, user_id: int, setting: str) -> BuyersCart:
        """`to_price` and, in the same statement, the buyer's standing (LoyaltyRepo.standing, with the shop setting
        `setting`) and store credit balance (CreditRepo.balance): what a screen with the cart's price reads."""
        return await self._for_buyer(_to_price_for_buyer(), user_id, setting)

    async def to_check_out(self, user_id: int, setting: str) -> BuyersCart:
        """`to_price_for_buyer` with the buyer's open order (OrderRepo.open_order_of) in the same statement, run
        after checkout has locked the buyer's row. An empty cart's rows carry nothing: its buyer's open order is
        then read by a statement of its own (a double-tapped checkout finds the cart the first one emptied)."""
        read = await self._for_buyer(_to_check_out(), user_id, setting)
        if read.cart.lines:
            return read
        return replace(read, open_order=await OrderRepo(self._s).open_order_of(user_id))

    async def _for_buyer(self, stmt: Select[Any], user_id: int, setting: str) -> BuyersCart:
        """A BuyersCart from `stmt`: `_to_price_for_buyer`, maybe with the open order's column after its own."""
        rows = (await self._s.execute(stmt, {"user_id": user_id, "setting": setting})).all()
        if not rows:
            return BuyersCart(_priced([], await self.voucher(user_id)), None, None)
        reseller, tier, stored, balance, *open_order = rows[0][7:]
        standing = Standing.of(reseller, tier, stored)
        return BuyersCart(_priced(rows, rows[0][6]), standing, balance or 0, *open_order)

    async def line(self, user_id: int, item_id: int) -> CartItem | None:
        """The line only when it belongs to this user."""
        result = await self._s.execute(select(CartItem).where(CartItem.id == item_id, CartItem.user_id == user_id))
        return result.scalar_one_or_none()

    async def add(self, user_id: int, variant: Variant, quantity: int) -> int:
        """Adds to the line of this variant (creating it); returns the line's new quantity."""
        values = {"user_id": user_id, "product_id": variant.product_id, "variant_id": variant.id, "quantity": quantity}
        return int((await self._s.execute(_add(dialect_of(self._s)), values)).scalar_one())

    async def set_quantity(self, item_id: int, quantity: int) -> None:
        await self._s.execute(update(CartItem).where(CartItem.id == item_id).values(quantity=quantity))

    async def remove(self, user_id: int, item_id: int) -> bool:
        result = await self._s.execute(delete(CartItem).where(CartItem.id == item_id, CartItem.user_id == user_id))
        return bool(getattr(result, "rowcount", 0))

    async def clear(self, user_id: int, *, code: bool = True) -> None:
        """Empty the cart, its voucher code included; `code=False` when the caller read in this transaction that
        the cart carries none (PricedCart.voucher): one DELETE fewer."""
        lines, voucher = _empty()
        await self._s.execute(lines, {"user_id": user_id})
        if code:
            await self._s.execute(voucher, {"user_id": user_id})

    async def voucher(self, user_id: int) -> Voucher | None:
        """The voucher whose code the buyer entered for their cart."""
        result = await self._s.execute(_voucher(), {"user_id": user_id})
        return result.scalar_one_or_none()

    async def set_voucher(self, user_id: int, voucher_id: int) -> None:
        """The cart carries this code from now on, instead of any other."""
        await self.drop_voucher(user_id)
        self._s.add(CartVoucher(user_id=user_id, voucher_id=voucher_id))
        await self._s.flush()

    async def drop_voucher(self, user_id: int) -> bool:
        result = await self._s.execute(delete(CartVoucher).where(CartVoucher.user_id == user_id))
        return bool(getattr(result, "rowcount", 0))
