"""The money module: fiat minor units, base units and their text, the amount due, the paid threshold."""

import random
from decimal import Context, Decimal
from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.chains import CHAINS
from models.enums import Chain
from services.money import (
    amount_due,
    format_amount,
    from_minor,
    paid_threshold,
    to_base_units,
    to_coins,
    to_fiat,
    to_minor,
)

HUGE_WEI = 123_456_789 * 10**30 + 7  # far beyond float precision
SOL_MINIMUM = CHAINS[Chain.sol].min_payment
chains = st.sampled_from(list(Chain))
base_units = st.integers(min_value=0, max_value=10**78 - 1)  # what Numeric(78, 0) holds


# --- base units as text ---


@pytest.mark.parametrize(
    ("chain", "units", "text"),
    [
        (Chain.btc, 150_000, "0.0015"),
        (Chain.btc, 1, "0.00000001"),
        (Chain.btc, 0, "0"),
        (Chain.btc, 10**8, "1"),
        (Chain.btc, 123_456_789, "1.23456789"),
        (Chain.ltc, 21 * 10**14, "21000000"),
        (Chain.eth, 1, "0.000000000000000001"),
        (Chain.eth, 10**18 + 10**17, "1.1"),
        (Chain.eth, HUGE_WEI, "123456789000000000000.000000000000000007"),
        (Chain.sol, 1, "0.000000001"),
        (Chain.sol, 1_500_000_000, "1.5"),
    ],
)
def test_format_amount(chain: Chain, units: int, text: str) -> None:
    assert format_amount(chain, units) == text


def test_format_amount_matches_decimal() -> None:
    rng = random.Random(7)
    exact = Context(prec=100)  # the default 28 digits would round the reference itself
    for chain, facts in CHAINS.items():
        decimals = facts.decimals
        for _ in range(500):
            units = rng.randrange(10 ** rng.randrange(1, 40))
            assert Decimal(format_amount(chain, units)) == Decimal(units).scaleb(-decimals, exact)


def test_format_amount_rejects_negative() -> None:
    with pytest.raises(ValueError):
        format_amount(Chain.btc, -1)


@given(chain=chains, units=base_units)
def test_format_amount_round_trips_with_decimal(chain: Chain, units: int) -> None:
    text = format_amount(chain, units)
    assert "E" not in text and "e" not in text  # never scientific notation
    assert Fraction(Decimal(text)) == Fraction(units, 10 ** CHAINS[chain].decimals)
    assert to_coins(chain, units) == Decimal(text)
    assert to_base_units(chain, Decimal(text)) == units


@given(chain=chains, units=base_units)
def test_to_base_units_refuses_a_fraction_of_a_base_unit(chain: Chain, units: int) -> None:
    exact = Context(prec=200)
    coins = exact.add(Decimal(format_amount(chain, units)), Decimal(1).scaleb(-CHAINS[chain].decimals - 1))
    with pytest.raises(ValueError):
        to_base_units(chain, coins)


# --- fiat ---


fiat = st.decimals(min_value=Decimal("-100000000"), max_value=Decimal("100000000"), places=2)


@given(amount=fiat)
def test_minor_units_round_trip(amount: Decimal) -> None:
    assert from_minor(to_minor(amount)) == amount
    assert to_minor(amount) == Fraction(amount) * 100


@pytest.mark.parametrize("amount", ["12.345", "0.001", "NaN", "Infinity"])
def test_to_minor_refuses_what_is_not_whole_cents(amount: str) -> None:
    with pytest.raises(ValueError):
        to_minor(Decimal(amount))


@given(
    chain=chains,
    units=st.integers(min_value=-(10**30), max_value=10**30),
    rate=st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("10000000"), places=8),
)
def test_to_fiat_is_the_value_at_the_rate_to_the_cent(chain: Chain, units: int, rate: Decimal) -> None:
    value = to_fiat(chain, units, rate)
    exact = Fraction(units, 10 ** CHAINS[chain].decimals) * Fraction(rate)
    assert value.as_tuple().exponent == -2
    assert abs(Fraction(value) - exact) <= Fraction(1, 200)


def test_to_fiat_rounds_half_to_even() -> None:
    assert to_fiat(Chain.btc, 50_000, Decimal(10)) == Decimal("0.00")  # 0.005
    assert to_fiat(Chain.btc, 150_000, Decimal(10)) == Decimal("0.02")  # 0.015
    assert to_fiat(Chain.btc, 250_000, Decimal(10)) == Decimal("0.02")  # 0.025
    assert to_fiat(Chain.btc, -250_000, Decimal(10)) == Decimal("-0.02")
    assert to_fiat(Chain.eth, 10**18 + 1, Decimal("3000.5")) == Decimal("3000.50")


# --- amount due ---


@pytest.mark.parametrize(
    ("chain", "total", "rate", "expected"),
    [
        (Chain.btc, "12.50", "60000", 20_834),  # 20833.33… sat, rounded up
        (Chain.btc, "30", "60000", 50_000),  # exact: not rounded up
        (Chain.ltc, "0.01", "80", 12_500),
        (Chain.eth, "10", "3000", 3_333_333_333_333_334),  # 3333333333333333.33… wei
        (Chain.eth, "30", "3000", 10**16),
        (Chain.eth, "123456789012.34", "0.000001", 123_456_789_012_340_000 * 10**18),  # huge: exact wei
        (Chain.eth, "1", "3", 333_333_333_333_333_334),
        (Chain.sol, "100", "150", 666_666_667),
        (Chain.sol, "0.01", "150", SOL_MINIMUM),  # 66667 lamports, raised to rent-exempt
        (Chain.sol, "0.13363200", "150", SOL_MINIMUM),  # exactly the minimum
        (Chain.sol, "0.134", "150", 893_334),
    ],
)
def test_amount_due(chain: Chain, total: str, rate: str, expected: int) -> None:
    assert amount_due(chain, Decimal(total), Decimal(rate)) == expected


@pytest.mark.parametrize(("total", "rate"), [("0", "1"), ("-1", "1"), ("1", "0"), ("NaN", "1"), ("1", "Inf")])
def test_amount_due_refuses_nonsense(total: str, rate: str) -> None:
    with pytest.raises(ValueError):
        amount_due(Chain.btc, Decimal(total), Decimal(rate))


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2)
rates = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("10000000"), places=8)


@given(chain=st.sampled_from(list(Chain)), total=money, rate=rates)
def test_amount_due_is_the_least_amount_that_covers_the_total(chain: Chain, total: Decimal, rate: Decimal) -> None:
    units = amount_due(chain, total, rate)
    paid = Fraction(rate) / 10 ** CHAINS[chain].decimals  # fiat per base unit, exact
    assert units * paid >= Fraction(total)
    if chain is Chain.sol and units == SOL_MINIMUM:
        return  # the floor may exceed the least covering amount
    assert (units - 1) * paid < Fraction(total)


totals = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000000"), places=2)
any_rates = st.decimals(min_value=Decimal("1E-12"), max_value=Decimal("1E+9"), places=12)


@given(chain=chains, total=totals, rate=any_rates)
def test_amount_due_is_the_least_covering_amount_or_the_minimum(chain: Chain, total: Decimal, rate: Decimal) -> None:
    least = ceil(Fraction(total) * 10 ** CHAINS[chain].decimals / Fraction(rate))  # exact
    units = amount_due(chain, total, rate)
    assert units == max(least, CHAINS[chain].min_payment)
    assert Fraction(units, 10 ** CHAINS[chain].decimals) * Fraction(rate) >= Fraction(total)  # covers the total


# --- paid threshold ---


tolerances = st.decimals(min_value=Decimal(0), max_value=Decimal("99.9999"), places=4)


@given(due=st.integers(min_value=1, max_value=10**78 - 1), tolerance=tolerances)
def test_paid_threshold_is_due_less_the_tolerance_rounded_up(due: int, tolerance: Decimal) -> None:
    threshold = paid_threshold(due, tolerance)
    exact = Fraction(due) * (1 - Fraction(tolerance) / 100)
    assert threshold <= due
    assert exact <= threshold < exact + 1


@given(due=st.integers(min_value=1, max_value=10**78 - 1))
def test_paid_threshold_without_tolerance_is_the_amount_due(due: int) -> None:
    assert paid_threshold(due, Decimal(0)) == due


def test_paid_threshold_examples() -> None:
    assert paid_threshold(20_834, Decimal("0.5")) == 20_730  # 20729.83
    assert paid_threshold(200, Decimal("0.5")) == 199  # exact: not rounded up
    assert paid_threshold(1, Decimal("99")) == 1
