"""The buyer's cart, and the voucher code on it, kept in the database so they survive restarts."""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import ProductKind
from models.types import utcnow
from repositories.cart import CartRepo
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo, choose
from repositories.vouchers import VoucherRepo
from services.dto import MAX_QUANTITY, CartLine, CartView, ProductCard
from services.money import from_minor
from services.pricing import price, price_steps
from services.shop.catalog import NotFound, VariantRefused, line_name, product_card, read_shelf, room_under_limit
from services.shop.limits import limits_left, refuse_beyond_limit
from services.shop.prices import STACK, buyer_terms, issue_problem, price_cart, price_lines, usable
from services.shop.vouchers import VoucherRefused, normalized_code, voucher_terms


async def return_to_cart(session: AsyncSession, user_id: int, lines: Sequence[tuple[int, int]]) -> None:
    """Inside the caller's transaction: put (variant id, quantity) lines back into the user's cart (a
    cancelled order's), each as far as the cart allows: variants still on sale, and no line above the
    units on the shelf. A line already in the cart keeps what it holds and grows by what fits."""
    wanted: dict[int, int] = {}
    for variant_id, quantity in lines:
        wanted[variant_id] = wanted.get(variant_id, 0) + quantity
    on_sale = await CatalogRepo(session).variants_on_sale(list(wanted))
    available = await StockRepo(session).available_of_variants(list(on_sale))
    cart, variants = CartRepo(session), VariantRepo(session)
    held = {item.variant_id: item.quantity for item, _, _ in await cart.lines(user_id)}
    for variant_id in sorted(on_sale):
        have = held.get(variant_id, 0)
        room = _capped(have + wanted[variant_id], available[variant_id]) - have
        variant = await variants.get(variant_id)
        if room > 0 and variant is not None:
            await cart.add(user_id, variant, room)


def _capped(quantity: int, available: int | None) -> int:
    """`quantity`, at most what is on the shelf (an unlimited product, None, has no bound)."""
    return quantity if available is None else min(quantity, available)


@dataclass(frozen=True, slots=True)
class Added:
    """What the card's Add button did: the line's quantity, and the card to show now."""

    count: int
    card: ProductCard


class NotEnoughStock(Exception):
    def __init__(self, available: int) -> None:
        super().__init__(available)
        self.available = available


class CartService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def view(self, user_id: int) -> CartView:
        async with read_only(self._session):
            return await self._view(user_id)

    async def add_from_card(self, user_id: int, product_id: int, quantity: int, variant_id: int = 0) -> Added:
        """Put `quantity` more of a product's variant in the cart (`variant_id` 0: a plain product's only one);
        the line's quantity and the product's card as it is afterwards (CatalogService.product), read in the same
        transaction from what the addition read already.

        Raises NotFound for a missing or inactive product, VariantRefused for a variant that is not one of this
        product's on sale (another product's, deleted, retired, or none chosen where there is a choice),
        NotEnoughStock when the cart would hold more of the variant than is on the shelf (nothing is held until
        checkout), services.shop.limits.LimitReached when the cart would hold more of the product (all its
        variants) than its per-buyer limit leaves this buyer (checkout checks that again). Nothing changes when
        it raises.
        """
        async with self._session.begin():
            shelf = await read_shelf(self._session, product_id, user_id)
            if quantity < 1 or shelf is None or not shelf.for_sale:
                raise NotFound
            variant = choose(shelf.offered, variant_id)
            if variant is None:
                raise VariantRefused
            available = shelf.left[variant.id]
            total = await CartRepo(self._session).add(user_id, variant, quantity)  # a refusal rolls it back
            if available is not None and total > available:
                raise NotEnoughStock(available)
            if total > MAX_QUANTITY:
                raise NotEnoughStock(MAX_QUANTITY)
            # the cart as it is now, from what the shelf read of it: the product's other variants count too
            of_product = shelf.in_cart_of_product - shelf.in_cart.get(variant.id, 0) + total
            shelf = replace(shelf, in_cart={**shelf.in_cart, variant.id: total}, in_cart_of_product=of_product)
            left = await room_under_limit(self._session, user_id, shelf.product)
            refuse_beyond_limit(shelf.product, of_product, left)
            return Added(total, product_card(shelf, variant.id, left))

    async def change(self, user_id: int, item_id: int, delta: int) -> CartView:
        """Change a line's quantity by `delta`, within 1..available and what the product's per-buyer limit leaves.
        Raises NotFound for a line not in this cart."""
        async with self._session.begin():
            cart = CartRepo(self._session)
            item = await cart.line(user_id, item_id)
            if item is None:
                raise NotFound
            available = (await StockRepo(self._session).available_of_variants([item.variant_id]))[item.variant_id]
            product = await CatalogRepo(self._session).product(item.product_id)
            limit = (
                (await limits_left(self._session, user_id, [product], utcnow()))[item.product_id] if product else None
            )
            if limit is not None:  # the limit is the product's: its other variants in the cart take their share
                others = await cart.lines(user_id)
                limit -= sum(i.quantity for i, p, _ in others if p.id == item.product_id and i.id != item.id)
            caps = [c for c in (available, limit) if c is not None]
            quantity = max(1, min(item.quantity + delta, max(min(caps, default=MAX_QUANTITY), 1)))
            await cart.set_quantity(item.id, quantity)
            return await self._view(user_id)

    async def remove(self, user_id: int, item_id: int) -> CartView:
        """Raises NotFound when the line is not in this cart (already removed, or someone else's)."""
        async with self._session.begin():
            if not await CartRepo(self._session).remove(user_id, item_id):
                raise NotFound
            return await self._view(user_id)

    async def take_what_is_left(self, user_id: int) -> CartView:
        """Lower each line to what is on sale right now, dropping lines of which nothing is left (sold out,
        or no longer sold), so that checkout can go on with the rest. Idempotent."""
        async with self._session.begin():
            cart = CartRepo(self._session)
            read = await cart.to_price(user_id)
            for item, _, variant in read.lines:
                left = read.left[variant.id] if variant.id in read.on_sale else 0
                if left is None:  # unlimited: never short
                    continue
                if left == 0:
                    await cart.remove(user_id, item.id)
                elif item.quantity > left:
                    await cart.set_quantity(item.id, left)
            return await self._view(user_id)

    async def clear(self, user_id: int) -> None:
        """Empty the cart, its voucher code too."""
        async with self._session.begin():
            await CartRepo(self._session).clear(user_id)

    async def apply_code(self, user_id: int, text: str) -> CartView:
        """Put the voucher code `text` on the cart, in place of any other; checkout takes a use of it. Raises
        VoucherRefused, changing nothing, for a malformed or unknown code, one the buyer may not use now
        (disabled, not yet or no longer valid, used up, by them as often as it allows), or one that does
        not apply to what the cart holds (nothing in its scope, below its minimum order). An empty cart takes
        any code the buyer may use: whether it applies is shown once something is in it."""
        code = normalized_code(text)
        async with self._session.begin():
            s, now = self._session, utcnow()
            voucher = await VoucherRepo(s).by_code(code)
            if problem := await usable(s, voucher, code, user_id, now):
                raise VoucherRefused(problem)
            assert voucher is not None  # usable() refuses a missing one
            cart = CartRepo(s)
            if rows := await cart.lines(user_id):
                breakdown = price(await price_lines(s, rows), await buyer_terms(s, user_id), voucher_terms(voucher))
                if breakdown.voucher_issue is not None:
                    raise VoucherRefused(await issue_problem(s, voucher, breakdown.voucher_issue))
            await cart.set_voucher(user_id, voucher.id)
            return await self._view(user_id)

    async def drop_code(self, user_id: int) -> CartView:
        """Take the voucher code off the cart. Idempotent."""
        async with self._session.begin():
            await CartRepo(self._session).drop_voucher(user_id)
            return await self._view(user_id)

    async def _view(self, user_id: int) -> CartView:
        read = await CartRepo(self._session).to_price_for_buyer(user_id, STACK)
        cart = read.cart
        if not cart.lines:  # nothing to price: a code on the cart waits
            return CartView([], code=cart.voucher.code if cart.voucher else None)
        rows, available = cart.lines, cart.left
        priced = await price_cart(self._session, user_id, cart, utcnow(), standing=read.standing)
        return CartView(
            [
                CartLine(
                    item_id=item.id,
                    product_id=p.id,
                    name=line_name(p.name, v.name),
                    quantity=item.quantity,
                    unit_price=from_minor(v.price_minor),
                    available=available[v.id],
                    physical=p.kind is ProductKind.physical,
                )
                for item, p, v in rows
            ],
            price=price_steps(priced.breakdown()),
            code=priced.voucher.code if priced.voucher else None,
            code_problem=priced.problem,
        )
