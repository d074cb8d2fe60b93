"""What a cart costs, step by step: the one place for every price rule. Pure: no I/O, integer minor units in,
integer minor units out (services.shop.prices loads the rules that apply to a buyer).

The steps, in this order:
1. the items at catalog prices: the subtotal;
2. the buyer's prices: a reseller pays a product's reseller price where it has one; a buyer in a spend tier
   gets its percentage off (in its category, or everywhere). Both apply to one line only when the shop stacks
   them (the tier's percentage comes off the reseller price); otherwise each line gets whichever is lower;
3. at most one voucher: a percentage off, or a fixed amount off (at most), what its scope covers. Its minimum
   order is checked against the goods after step 2. It never takes the goods below one minor unit: an
   order is always paid for, since a payment is what completes it;
4. the buyer's store credit, when they apply it: it pays the goods after step 3 and then shipping, as far as
   it goes (services.credit); the invoice is for the rest, and an order it pays entirely has no invoice;
5. the coin's fee (positive) or discount (negative): a percentage of the goods the coin still pays after step 4,
   so credit is never charged a coin's fee nor given its discount;
6. shipping (less what credit paid of it).

Rounding: each step is computed exactly; the running total after each step is rounded *up* to a whole minor
unit and each step's amount is the difference of two such totals. So the steps always add up to the total,
and the total exceeds the exact price by less than one minor unit: rounding favours the shop, by less than a
cent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from enum import StrEnum
from typing import Any

from models.enums import VoucherKind
from models.orders import Order
from services.dto import PriceSteps
from services.money import from_minor

BASIS = 10_000  # basis points in 100 %
_FLOOR = Decimal(1)  # one minor unit: the least a voucher leaves of the goods


@dataclass(frozen=True, slots=True)
class PriceLine:
    """One cart line as pricing sees it."""

    product_id: int
    category_id: int
    quantity: int
    unit_minor: int  # the catalog price
    reseller_minor: int | None = None  # the product's reseller price, if it has one


@dataclass(frozen=True, slots=True)
class TierTerms:
    name: str
    percent_bp: int
    category_id: int | None = None  # None: every product

    def covers(self, line: PriceLine) -> bool:
        return self.category_id is None or self.category_id == line.category_id


@dataclass(frozen=True, slots=True)
class BuyerTerms:
    """What a buyer's prices depend on."""

    reseller: bool = False
    tier: TierTerms | None = None
    stack: bool = False  # reseller price and tier both apply to one line


@dataclass(frozen=True, slots=True)
class VoucherTerms:
    code: str
    kind: VoucherKind
    value: int  # basis points, or minor units
    min_order_minor: int = 0
    product_id: int | None = None  # scope: this product, or this category, or (both None) everything
    category_id: int | None = None

    def covers(self, line: PriceLine) -> bool:
        if self.product_id is not None:
            return line.product_id == self.product_id
        return self.category_id is None or self.category_id == line.category_id


class VoucherIssue(StrEnum):
    """Why a voucher takes nothing off this cart."""

    out_of_scope = "out_of_scope"  # nothing in the cart is what it is for
    min_order = "min_order"  # the goods cost less than its minimum order


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Every step of a price, in minor units; total = subtotal − the three discounts − credit + coin_fee +
    shipping: what the invoice is for."""

    subtotal: int
    reseller_discount: int = 0
    tier_name: str | None = None  # the tier whose discount applied
    tier_discount: int = 0
    voucher_code: str | None = None  # the voucher that applied
    voucher_discount: int = 0
    credit: int = 0  # store credit that pays part (or all) of it
    coin_fee: int = 0  # negative: a discount for paying in that coin
    shipping: int = 0
    total: int = 0
    voucher_issue: VoucherIssue | None = None  # a voucher was given, and this is why it took nothing off

    @property
    def goods(self) -> int:
        """What the items cost after discounts and the coin's fee, credit included: the order's price without
        shipping, whoever pays it."""
        return self.total + self.credit - self.shipping


def price(
    lines: Sequence[PriceLine],
    buyer: BuyerTerms,
    voucher: VoucherTerms | None = None,
    coin_fee_bp: int = 0,
    shipping_minor: int = 0,
    credit_minor: int = 0,
) -> Breakdown:
    """The price of `lines` for `buyer`, with `voucher` (if it applies: see Breakdown.voucher_issue), the coin's
    fee or discount in basis points (more than −100 %), shipping, and up to `credit_minor` of the buyer's store
    credit (what it pays is Breakdown.credit). Raises ValueError for a coin discount of 100 % or more."""
    if coin_fee_bp <= -BASIS:
        raise ValueError(f"a coin discount must be less than 100 %: {coin_fee_bp} bp")
    with localcontext() as ctx:
        ctx.prec = 100  # exact: every value is an integer over a power of ten
        steps = [_line_prices(line, buyer) for line in lines]
        subtotal = sum(line.quantity * line.unit_minor for line in lines)
        after_reseller = sum((reseller for reseller, _ in steps), Decimal(0))
        after_tier = sum((tiered for _, tiered in steps), Decimal(0))
        goods = after_tier
        issue = None
        if voucher is not None:
            covered = sum(
                (tiered for line, (_, tiered) in zip(lines, steps, strict=True) if voucher.covers(line)), Decimal(0)
            )
            if not covered:
                issue = VoucherIssue.out_of_scope
            elif _up(after_tier) < voucher.min_order_minor:
                issue = VoucherIssue.min_order
            else:
                off = (
                    covered * voucher.value / BASIS
                    if voucher.kind is VoucherKind.percent
                    else min(Decimal(voucher.value), covered)
                )
                goods = max(after_tier - off, min(after_tier, _FLOOR))
        credit = min(max(credit_minor, 0), _up(goods) + shipping_minor)
        in_coin = max(goods - credit, Decimal(0))  # the goods the coin still pays
        paid = in_coin * (BASIS + coin_fee_bp) / BASIS
    tier_discount = int(after_reseller) - _up(after_tier)
    voucher_discount = _up(after_tier) - _up(goods)
    shipping_credit = max(credit - _up(goods), 0)  # what credit paid of shipping, once the goods were paid
    return Breakdown(
        subtotal=subtotal,
        reseller_discount=subtotal - int(after_reseller),
        tier_name=buyer.tier.name if buyer.tier is not None and tier_discount else None,
        tier_discount=tier_discount,
        voucher_code=voucher.code if voucher is not None and issue is None else None,
        voucher_discount=voucher_discount,
        credit=credit,
        coin_fee=_up(paid) - _up(in_coin),
        shipping=shipping_minor,
        total=_up(paid) + shipping_minor - shipping_credit,
        voucher_issue=issue,
    )


def _line_prices(line: PriceLine, buyer: BuyerTerms) -> tuple[Decimal, Decimal]:
    """The line's exact price after the reseller step and after the tier step (step 2)."""
    base = Decimal(line.quantity * line.unit_minor)
    reseller = (
        Decimal(line.quantity * min(line.reseller_minor, line.unit_minor))
        if buyer.reseller and line.reseller_minor is not None
        else None
    )
    after_reseller = base if reseller is None else reseller
    if buyer.tier is None or not buyer.tier.covers(line):
        return after_reseller, after_reseller
    share = Decimal(BASIS - buyer.tier.percent_bp) / BASIS
    if buyer.stack or reseller is None:
        return after_reseller, after_reseller * share
    tiered = base * share
    return (base, tiered) if tiered < reseller else (reseller, reseller)


def _up(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def order_columns(breakdown: Breakdown) -> dict[str, Any]:
    """The steps as an order stores them (models.orders.Order)."""
    return {
        "subtotal_minor": breakdown.subtotal,
        "reseller_discount_minor": breakdown.reseller_discount,
        "tier_name": breakdown.tier_name,
        "tier_discount_minor": breakdown.tier_discount,
        "voucher_code": breakdown.voucher_code,
        "voucher_discount_minor": breakdown.voucher_discount,
        "credit_minor": breakdown.credit,
        "coin_fee_minor": breakdown.coin_fee,
        "shipping_minor": breakdown.shipping,
        "total_minor": breakdown.total,
    }


def order_breakdown(order: Order) -> Breakdown:
    """The steps an order was placed with."""
    return Breakdown(
        subtotal=order.subtotal_minor,
        reseller_discount=order.reseller_discount_minor,
        tier_name=order.tier_name,
        tier_discount=order.tier_discount_minor,
        voucher_code=order.voucher_code,
        voucher_discount=order.voucher_discount_minor,
        credit=order.credit_minor,
        coin_fee=order.coin_fee_minor,
        shipping=order.shipping_minor,
        total=order.total_minor,
    )


def price_steps(breakdown: Breakdown) -> PriceSteps:
    """The steps in the shop's currency, for showing."""
    return PriceSteps(
        subtotal=from_minor(breakdown.subtotal),
        reseller_discount=from_minor(breakdown.reseller_discount),
        tier_name=breakdown.tier_name,
        tier_discount=from_minor(breakdown.tier_discount),
        voucher_code=breakdown.voucher_code,
        voucher_discount=from_minor(breakdown.voucher_discount),
        credit=from_minor(breakdown.credit),
        coin_fee=from_minor(breakdown.coin_fee),
        shipping=from_minor(breakdown.shipping),
        total=from_minor(breakdown.total),
    )
