"""Refunds on chain in the admin panel: their buttons and texts, pure functions from DTOs and strings."""

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.admin.order_views import ApAction, ProblemCb
from handlers.callbacks import Id
from handlers.keyboards import button
from l10n import L10n
from models.enums import OrderProblem, RefundStatus
from services.admin.dto import RefundQuote, RefundView
from services.money import format_amount, format_fiat
from services.payments.refunds import RefundCheck


class ArAction(StrEnum):
    start = "s"  # what to give back
    coin = "c"  # open it: the coins that arrived
    fiat = "f"  # open it: their value, at today's rate
    link = "l"  # the payment link and its QR
    txid = "t"  # close it with a transaction id
    cancel = "x"  # ask first
    cancel_now = "X"


class RefundAdminCb(CallbackData, prefix="rf"):
    action: ArAction
    id: Id  # the order
    problem: OrderProblem | None = None  # start, coin, fiat: the problem the admin saw
    refund: Id = 0  # link, txid, cancel: the refund the admin saw


def choice(quote: RefundQuote, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    coin, fiat = quote.unit.label, format_fiat(quote.fiat, quote.currency)
    coins = format_amount(quote.unit, quote.coins)
    lines = [
        l10n("admin.refunds.choose", order_id=quote.order_id, problem=l10n(f"admin.problems.kind.{quote.problem}")),
        l10n("admin.refunds.basis.coin", amount=coins, coin=coin, fiat=fiat),
    ]
    kb = InlineKeyboardBuilder()
    opened = RefundAdminCb(action=ArAction.coin, id=quote.order_id, problem=quote.problem)
    kb.row(button(l10n("admin.refunds.do.coin", amount=coins, coin=coin), opened))
    if quote.at_today is None:
        lines.append(l10n("admin.refunds.no_rate"))
    else:
        today = format_amount(quote.unit, quote.at_today)
        lines.append(l10n("admin.refunds.basis.fiat", amount=today, coin=coin, fiat=fiat))
        opened = RefundAdminCb(action=ArAction.fiat, id=quote.order_id, problem=quote.problem)
        kb.row(button(l10n("admin.refunds.do.fiat", amount=today, coin=coin, fiat=fiat), opened))
    kb.row(button(l10n("nav.back"), ProblemCb(action=ApAction.view, id=quote.order_id)))
    return "\n\n".join(lines), kb.as_markup()


def refund_text(refund: RefundView, l10n: L10n) -> str:
    """The refund's line in the problem view: how much, on which basis, and what it waits for."""
    text = l10n(
        "admin.refunds.summary",
        amount=format_amount(refund.unit, refund.amount),
        coin=refund.unit.label,
        fiat=format_fiat(refund.fiat, refund.currency),
        basis=l10n(f"admin.refunds.basis_name.{refund.basis}"),
    )
    return text + "\n" + l10n(f"admin.refunds.status.{refund.status}", address=refund.address or "")


def refund_buttons(refund: RefundView, kb: InlineKeyboardBuilder, l10n: L10n) -> None:
    """The open refund's actions, under the problem view."""
    ids = {"id": refund.order_id, "refund": refund.id}
    if refund.status is RefundStatus.awaiting_payment:
        kb.row(button(l10n("admin.refunds.do.link"), RefundAdminCb(action=ArAction.link, **ids)))
        kb.row(button(l10n("admin.refunds.do.txid"), RefundAdminCb(action=ArAction.txid, **ids)))
    kb.row(button(l10n("admin.refunds.do.cancel"), RefundAdminCb(action=ArAction.cancel, **ids)))


def pay_caption(refund: RefundView, depth: int, l10n: L10n) -> str:
    """Under the QR: exactly what to send where, and the link itself."""
    return l10n(
        "admin.refunds.pay",
        order_id=refund.order_id,
        amount=format_amount(refund.unit, refund.amount),
        coin=refund.unit.label,
        address=refund.address or "",
        uri=refund.uri or "",
        depth=depth,
    )


def pay_keyboard(refund: RefundView, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    ids = {"id": refund.order_id, "refund": refund.id}
    kb.row(button(l10n("admin.refunds.do.txid"), RefundAdminCb(action=ArAction.txid, **ids)))
    kb.row(button(l10n("admin.problems.open"), ProblemCb(action=ApAction.view, id=refund.order_id)))
    return kb.as_markup()


def confirm_cancel(order_id: int, refund_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(
        button(
            l10n("admin.refunds.cancel_yes"), RefundAdminCb(action=ArAction.cancel_now, id=order_id, refund=refund_id)
        ),
        button(l10n("nav.back"), ProblemCb(action=ApAction.view, id=order_id)),
    )
    return kb.as_markup()


def checked(result: RefundCheck, refund: RefundView, depth: int, l10n: L10n) -> str:
    """What a hand-entered transaction id turned out to be."""
    return l10n(
        f"admin.refunds.check.{result}",
        order_id=refund.order_id,
        amount=format_amount(refund.unit, refund.amount),
        coin=refund.unit.label,
        address=refund.address or "",
        depth=depth,
    )
