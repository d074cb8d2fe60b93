"""Outbox notices as Telegram messages: the l10n key and params become a text, buttons (the answer a notice
asks for, "#order") and, for goods that do not fit one message, a .txt file. Pure (no I/O); processing.outbox
sends what this returns, services.delivery loads the notice."""

from collections.abc import Callable
from typing import Any, NamedTuple

from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from handlers.admin.order_views import open_order
from handlers.admin.refund_views import ArAction, RefundAdminCb
from handlers.callbacks import OrderAction, OrderCb, RefundAction, RefundCb
from handlers.goods import with_goods
from handlers.keyboards import button
from l10n import L10n, Translator
from services.delivery import Notice
from services.money import format_amount

# Params queued in base units of the invoice's asset (a refund is counted in it too)
AMOUNTS = ("remainder", "received", "short_by", "overpaid_by", "refund")
# Kinds worded per case: the param whose value picks the text notify.<kind>.<value> (without it: notify.<kind>).
CASES = {
    "admin.paid": "problem",
    "admin.problem": "problem",
    "invoice_closed": "status",
    "admin.access_renewal_failed": "why",
}
# Notices that ask for an answer: the buttons that give it (each its text's l10n key, and what it presses),
# above the one that opens the order.
ANSWERS: dict[str, tuple[tuple[str, Callable[[Notice], CallbackData]], ...]] = {
    "refund_ask": (
        ("refund.give_address", lambda n: RefundCb(action=RefundAction.address, id=int(n.params["refund_id"]))),
        ("refund.take_credit", lambda n: RefundCb(action=RefundAction.credit, id=int(n.params["refund_id"]))),
    ),
    "admin.refund_ready": (
        (
            "admin.refunds.do.link",
            lambda n: RefundAdminCb(action=ArAction.link, id=n.order_id or 0, refund=int(n.params["refund_id"])),
        ),
    ),
}


class RenderedNotice(NamedTuple):
    text: str
    markup: InlineKeyboardMarkup | None  # an edit has none: an invoice loses its buttons
    # Sent after the text: goods too long for one message, and documents sold as goods.
    documents: tuple[BufferedInputFile, ...] = ()


class NoticeRenderer:
    """Renders a notice in its recipient's language, or the shop's default for a chat that is no user."""

    def __init__(self, translator: Translator, default_language: str) -> None:
        self._translator = translator
        self._default_language = default_language

    def __call__(self, notice: Notice) -> RenderedNotice:
        l10n = self._translator(notice.language or self._default_language)
        text, documents = notice_text(notice, l10n)
        markup = None if notice.edits is not None else notice_markup(notice, l10n)
        return RenderedNotice(text, markup, tuple(documents))


def notice_text(notice: Notice, l10n: L10n) -> tuple[str, list[BufferedInputFile]]:
    params: dict[str, Any] = {"order_id": notice.order_id, **notice.params}
    if notice.unit is not None:
        params["coin"] = notice.unit.symbol
        for key in AMOUNTS:
            if key in params:
                params[key] = format_amount(notice.unit, int(params[key]))
        params.setdefault("address", notice.address)
    key = f"notify.{notice.kind}"
    if (case := CASES.get(notice.kind)) and case in params:
        key += f".{params[case]}"
    if "problem" in params:  # stored as the enum value; admins read it in their language
        params["problem"] = l10n(f"admin.problems.kind.{params['problem']}")
    text = l10n(key, **params)
    if notice.delivers is None or notice.order_id is None:
        return text, []
    if notice.params.get("overpaid"):
        text += "\n\n" + l10n("notify.overpaid_note")
    if not notice.goods and not notice.files:  # a parcel follows, or the invite link of channel access
        return text + "\n" + l10n("notify.access_soon" if notice.params.get("access") else "notify.ship_soon"), []
    return with_goods(text, notice.goods, notice.order_id, l10n, sep="\n", files=notice.files)


def notice_markup(notice: Notice, l10n: L10n) -> InlineKeyboardMarkup | None:
    """The buttons that answer the notice, if it asks for something (ANSWERS); then a button to the order:
    the buyer's own view, or for an admin notice the admin order view."""
    rows = [[button(l10n(key), pressed(notice))] for key, pressed in ANSWERS.get(notice.kind, ())]
    if notice.order_id is not None:
        data = (
            open_order(notice.order_id)
            if notice.kind.startswith("admin.")
            else OrderCb(action=OrderAction.view, id=notice.order_id)
        )
        rows.append([button(f"#{notice.order_id}", data)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
