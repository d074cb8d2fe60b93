"""The pricing module: examples of each step, and properties over generated carts, buyers, vouchers and coin
fees: the steps add up, nothing goes below zero, rounding favours the shop by less than one minor unit, and
the invoice's crypto amount covers the stored total."""

from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.chains import CHAINS
from models.enums import Chain, VoucherKind
from services.money import amount_due, from_minor, to_coins
from services.pricing import (
    BASIS,
    Breakdown,
    BuyerTerms,
    PriceLine,
    TierTerms,
    VoucherIssue,
    VoucherTerms,
    price,
)

MUG = PriceLine(product_id=1, category_id=10, quantity=2, unit_minor=1250, reseller_minor=1000)
KEY = PriceLine(product_id=2, category_id=20, quantity=1, unit_minor=999)
GOLD = TierTerms("Gold", 1000)  # 10 %
SUMMER = VoucherTerms("SUMMER", VoucherKind.percent, 1500)


def test_catalog_prices_only() -> None:
    assert price([MUG, KEY], BuyerTerms(), shipping_minor=490) == Breakdown(subtotal=3499, shipping=490, total=3989)


def test_tier_then_voucher_then_coin_then_shipping_rounding_up_the_running_total() -> None:
    b = price([MUG, KEY], BuyerTerms(tier=GOLD), SUMMER, coin_fee_bp=-200, shipping_minor=490)
    # after the tier: 3499 × 0.9 = 3149.1 -> 3150; the voucher: 3149.1 × 0.85 = 2676.735 -> 2677;
    # 2 % off for the coin: 2676.735 × 0.98 = 2623.2003 -> 2624
    assert b == Breakdown(
        subtotal=3499,
        tier_name="Gold",
        tier_discount=349,
        voucher_code="SUMMER",
        voucher_discount=473,
        coin_fee=-53,
        shipping=490,
        total=3114,
    )


def test_reseller_and_tier_do_not_stack_unless_the_shop_says_so() -> None:
    reseller_gold = BuyerTerms(reseller=True, tier=GOLD)
    # per line the lower: the mug's reseller price 10.00 beats 12.50 − 10 %; the key has no reseller price
    b = price([MUG, KEY], reseller_gold)
    assert (b.reseller_discount, b.tier_discount, b.total) == (500, 99, 2900)  # 2000 + 899.1 -> 2900
    stacked = price([MUG, KEY], BuyerTerms(reseller=True, tier=GOLD, stack=True))
    assert (stacked.reseller_discount, stacked.tier_discount, stacked.total) == (500, 299, 2700)
    deep = TierTerms("Platinum", 3000)  # 12.50 − 30 % = 8.75 beats the reseller price
    assert price([MUG], BuyerTerms(reseller=True, tier=deep)).total == 1750
    one_mug = PriceLine(1, 10, 1, 1250, 1000)
    assert price([one_mug], BuyerTerms(reseller=True, tier=deep)) == Breakdown(1250, 0, "Platinum", 375, total=875)
    assert price([one_mug], reseller_gold) == Breakdown(1250, 250, total=1000)


def test_a_tier_with_a_category_only_touches_that_category() -> None:
    b = price([MUG, KEY], BuyerTerms(tier=TierTerms("Gold", 1000, category_id=20)))
    assert (b.tier_discount, b.total) == (99, 3400)


def test_voucher_scope_minimum_and_cap() -> None:
    for_keys = VoucherTerms("KEYS", VoucherKind.fixed, 5000, category_id=20)  # 50.00 off, capped at the keys
    b = price([MUG, KEY], BuyerTerms(), for_keys)
    assert (b.voucher_discount, b.total) == (999, 2500)
    assert price([MUG], BuyerTerms(), for_keys).voucher_issue is VoucherIssue.out_of_scope
    only_mug = VoucherTerms("MUG", VoucherKind.percent, 1000, product_id=1)
    assert price([MUG, KEY], BuyerTerms(), only_mug).voucher_discount == 250
    big = VoucherTerms("BIG", VoucherKind.percent, 1000, min_order_minor=5000)
    refused = price([MUG, KEY], BuyerTerms(), big)
    assert (refused.voucher_issue, refused.voucher_code, refused.voucher_discount, refused.total) == (
        VoucherIssue.min_order,
        None,
        0,
        3499,
    )


def test_a_voucher_never_makes_an_order_free() -> None:
    everything = VoucherTerms("ALL", VoucherKind.percent, BASIS)
    assert price([KEY], BuyerTerms(), everything).total == 1
    assert price([KEY], BuyerTerms(), VoucherTerms("X", VoucherKind.fixed, 10**9), shipping_minor=490).total == 491


def test_a_coin_discount_of_100_percent_is_refused() -> None:
    with pytest.raises(ValueError):
        price([KEY], BuyerTerms(), coin_fee_bp=-BASIS)


# Properties ------------------------------------------------------------------------------------------------

lines_st = st.lists(
    st.builds(
        PriceLine,
        product_id=st.integers(1, 4),
        category_id=st.integers(1, 3),
        quantity=st.integers(1, 50),
        unit_minor=st.integers(0, 10**7),
        reseller_minor=st.none() | st.integers(0, 10**7),
    ),
    max_size=6,
)
tier_st = st.none() | st.builds(
    TierTerms, name=st.just("T"), percent_bp=st.integers(0, BASIS), category_id=st.none() | st.integers(1, 3)
)
buyer_st = st.builds(BuyerTerms, reseller=st.booleans(), tier=tier_st, stack=st.booleans())
voucher_st = st.none() | st.one_of(
    st.builds(
        VoucherTerms,
        code=st.just("V"),
        kind=st.just(VoucherKind.percent),
        value=st.integers(1, BASIS),
        min_order_minor=st.integers(0, 10**6),
        product_id=st.none() | st.integers(1, 4),
        category_id=st.none(),
    ),
    st.builds(
        VoucherTerms,
        code=st.just("V"),
        kind=st.just(VoucherKind.fixed),
        value=st.integers(1, 10**8),
        min_order_minor=st.integers(0, 10**6),
        product_id=st.none(),
        category_id=st.none() | st.integers(1, 3),
    ),
)
fee_st = st.integers(-BASIS + 1, BASIS)
shipping_st = st.integers(0, 10**5)


def exact_total(
    lines: list[PriceLine], buyer: BuyerTerms, voucher: VoucherTerms | None, fee: int, shipping: int
) -> Fraction:
    """The same rules in exact rationals, rounding nothing: what the total would be with infinitely small
    coins."""
    after = []
    for line in lines:
        base = Fraction(line.quantity * line.unit_minor)
        reseller = (
            Fraction(line.quantity * min(line.reseller_minor, line.unit_minor))
            if buyer.reseller and line.reseller_minor is not None
            else None
        )
        tier = buyer.tier if buyer.tier and buyer.tier.covers(line) else None
        share = Fraction(BASIS - tier.percent_bp, BASIS) if tier else None
        if share is None:
            after.append(base if reseller is None else reseller)
        elif reseller is None or buyer.stack:
            after.append((base if reseller is None else reseller) * share)
        else:
            after.append(min(base * share, reseller))
    goods = sum(after, Fraction(0))
    if voucher is not None:
        covered = sum((a for line, a in zip(lines, after, strict=True) if voucher.covers(line)), Fraction(0))
        ceil_goods = -(-goods.numerator // goods.denominator)
        if covered and ceil_goods >= voucher.min_order_minor:
            off = (
                covered * Fraction(voucher.value, BASIS)
                if voucher.kind is VoucherKind.percent
                else min(Fraction(voucher.value), covered)
            )
            goods = max(goods - off, min(goods, Fraction(1)))
    return Fraction(goods * Fraction(BASIS + fee, BASIS) + shipping)


@settings(max_examples=1000, deadline=None)
@given(lines=lines_st, buyer=buyer_st, voucher=voucher_st, fee=fee_st, shipping=shipping_st)
def test_price_properties(lines, buyer, voucher, fee, shipping) -> None:
    b = price(lines, buyer, voucher, fee, shipping)
    # every step is a whole number of minor units, and they add up to the total
    assert b.subtotal - b.reseller_discount - b.tier_discount - b.voucher_discount + b.coin_fee + b.shipping == b.total
    # nothing is negative, however the discounts stack; a discount is never a surcharge
    assert min(b.subtotal, b.reseller_discount, b.tier_discount, b.voucher_discount, b.shipping) >= 0
    assert b.total >= 0 and b.goods >= 0
    assert b.total >= b.shipping
    # rounding is in the shop's favour, by less than one minor unit over the exact price
    assert 0 <= b.total - exact_total(lines, buyer, voucher, fee, shipping) < 1
    # a voucher either applies or says why not, and one that applies leaves something to pay for
    if voucher is not None:
        assert (b.voucher_code is None) == (b.voucher_issue is not None)
        if b.voucher_code is not None and b.subtotal - b.reseller_discount - b.tier_discount > 0:
            assert b.goods > 0
    else:
        assert b.voucher_issue is None and b.voucher_discount == 0
    # no discount makes anything dearer than the catalog
    assert b.total - b.shipping - b.coin_fee <= b.subtotal


@settings(max_examples=1000, deadline=None)
@given(
    chain=st.sampled_from(list(Chain)),
    total=st.integers(1, 10**9),
    rate=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10**7), places=6, allow_nan=False),
)
def test_the_crypto_amount_always_covers_the_stored_total(chain, total, rate) -> None:
    due = amount_due(chain, from_minor(total), rate)
    with localcontext() as ctx:
        ctx.prec = 200  # exact products: wei amounts have many digits
        assert to_coins(chain, due) * rate >= from_minor(total)  # worth at least the total at the locked rate
        # and only just: one base unit less would not be, unless the chain's minimum payment set it
        if due > CHAINS[chain].min_payment:
            assert to_coins(chain, due - 1) * rate < from_minor(total)
