"""How store credit reads: a ledger entry as one line, and a page of a buyer's history, for the buyer ("My
account") and for admins (Users → a buyer). Pure."""

from html import escape

from l10n import L10n
from services.credit.account import CreditHistory, CreditLine
from services.money import format_fiat


def signed(amount_text: str, negative: bool) -> str:
    return ("−" if negative else "+") + amount_text


def credit_line_text(line: CreditLine, currency: str, l10n: L10n, *, admin: bool = False) -> str:
    """ "2026-11-30 · Refund as credit · order #12 · +5.00 USD → 5.00 USD"; admins also read the reason and
    who wrote it."""
    parts = [f"{line.created_at:%Y-%m-%d}", l10n(f"credit.kind.{line.kind.value}")]
    if line.order_id is not None:
        parts.append(l10n("credit.order", order_id=line.order_id))
    amount = signed(format_fiat(abs(line.amount), currency), line.amount < 0)
    parts.append(l10n("credit.change", amount=amount, balance=format_fiat(line.balance_after, currency)))
    text = " · ".join(parts)
    if admin:
        text += "\n    " + l10n("credit.by", actor=escape(line.actor))
        if line.reason:
            text += " · " + escape(line.reason)
    return text


def history_text(title: str, history: CreditHistory, currency: str, l10n: L10n, *, admin: bool = False) -> str:
    balance = l10n("credit.balance", balance=format_fiat(history.balance, currency))
    lines = [credit_line_text(line, currency, l10n, admin=admin) for line in history.lines]
    return "\n\n".join([title, balance, "\n".join(lines) or l10n("credit.no_entries")])
