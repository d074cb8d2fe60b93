"""Fiat amounts: Decimal in code, integer minor units (cents) in the database."""

from decimal import Decimal

CENTS = Decimal("0.01")


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor) * CENTS).quantize(CENTS)


def format_fiat(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(CENTS)} {currency}"
