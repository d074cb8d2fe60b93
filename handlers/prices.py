"""How prices read on every screen: the steps between the items and the total (the same on the cart, the
checkout, the invoice and both order views), and why a voucher code was refused. Pure."""

from decimal import Decimal
from html import escape

from l10n import L10n
from services.dto import PriceSteps, VoucherProblem
from services.money import format_fiat


def price_lines(price: PriceSteps, currency: str, l10n: L10n, coin: str | None = None) -> list[str]:
    """The items at catalog prices, each discount, the store credit used and the coin's fee (named `coin`), one
    line each; nothing when none of them changed the price."""
    if not price.adjusted:
        return []

    def money(amount: Decimal) -> str:
        return format_fiat(abs(amount), currency)

    lines = [l10n("price.items", amount=money(price.subtotal))]
    if price.reseller_discount:
        lines.append(l10n("price.reseller", amount=money(price.reseller_discount)))
    if price.tier_discount:
        lines.append(l10n("price.tier", tier=escape(price.tier_name or ""), amount=money(price.tier_discount)))
    if price.voucher_discount:
        lines.append(l10n("price.voucher", code=price.voucher_code or "", amount=money(price.voucher_discount)))
    if price.credit:
        lines.append(l10n("price.credit", amount=money(price.credit)))
    if price.coin_fee:
        key = "price.coin_fee" if price.coin_fee > 0 else "price.coin_discount"
        lines.append(l10n(key, coin=coin or "", amount=money(price.coin_fee)))
    return lines


def problem_text(problem: VoucherProblem, currency: str, l10n: L10n) -> str:
    """Why a voucher code cannot be used, in the buyer's language."""
    return l10n(
        problem.key,
        code=escape(problem.code),
        date=f"{problem.date:%Y-%m-%d}" if problem.date else "",
        amount=format_fiat(problem.amount, currency) if problem.amount is not None else "",
        scope=escape(problem.scope or ""),
    )
