"""What a product's kind and terms look like to a buyer: availability (an unlimited product never sells out),
the per-buyer limit and its refusal, the warranty. Pure: DTOs and l10n in, text out."""

from datetime import datetime
from decimal import Decimal

from l10n import L10n
from services.money import format_fiat
from services.shop.limits import LimitReached


def product_row(name: str, price: Decimal, varies: bool, available: int | None, currency: str, l10n: L10n) -> str:
    """ "Editor Pro 1y · 12.50 USD · 3 left", "… · sold out", or for an unlimited product just name and price;
    "from 12.50 USD" when its variants cost different amounts."""
    key = "catalog.product_row_unlimited" if available is None else "catalog.product_row"
    if available == 0:
        key = "catalog.product_row_sold_out"
    return l10n(key, name=name, price=shown_price(price, varies, currency, l10n), available=available)


def shown_price(price: Decimal, varies: bool, currency: str, l10n: L10n) -> str:
    """A product's price in a list or on its card: "from 5.00 USD" when its variants cost different amounts."""
    text = format_fiat(price, currency)
    return l10n("product.price_from", price=text) if varies else text


def available_text(available: int | None, l10n: L10n) -> str:
    """The card's "Available:" value."""
    return l10n("product.unlimited") if available is None else str(available)


def limit_text(e: LimitReached, l10n: L10n) -> str:
    """Why the buyer may not buy that many, and how many they still may."""
    key = "limit.reached" if e.left else "limit.reached_none"
    return l10n(key, name=e.name, units=e.units, days=e.days, left=e.left)


def warranty_text(until: datetime, running: bool, l10n: L10n) -> str:
    """ "Warranty until 2026-12-30 09:30 UTC", or that it ended then."""
    key = "order.warranty_until" if running else "order.warranty_ended"
    return l10n(key, until=until.strftime("%Y-%m-%d %H:%M"))
