"""Outbox notices as Telegram messages: the l10n key and params become text chunks and an "#order"
button. Pure (no I/O); processing.outbox sends what this returns, services.outbox loads the notice."""

from collections.abc import Callable
from html import escape
from typing import Any, NamedTuple

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from handlers.admin.order_views import open_order
from handlers.admin.refund_views import ArAction, RefundAdminCb
from handlers.callbacks import OrderAction, OrderCb, RefundAction, RefundCb
from handlers.keyboards import button
from l10n import L10n, Translator
from services.delivery import Notice
from services.money import format_amount

MESSAGE_LIMIT = 4000  # Telegram allows 4096 characters
AMOUNTS = ("remainder", "received", "refund")  # params queued in base units of the invoice's coin
# Notices that ask for an answer: the button that gives it (its text's l10n key, and what it presses), above
# the one that opens the order.
ANSWERS: dict[str, tuple[str, Callable[[Notice], CallbackData]]] = {
    "refund_ask": (
        "refund.give_address",
        lambda n: RefundCb(action=RefundAction.address, id=int(n.params["refund_id"])),
    ),
    "admin.refund_ready": (
        "admin.refunds.do.link",
        lambda n: RefundAdminCb(action=ArAction.link, id=n.order_id or 0, refund=int(n.params["refund_id"])),
    ),
}


class RenderedNotice(NamedTuple):
    texts: list[str]  # one message each, in order
    markup: InlineKeyboardMarkup | None  # on every one of them


class NoticeRenderer:
    """Renders a notice in its recipient's language, or the shop's default for a chat that is no user."""

    def __init__(self, translator: Translator, default_language: str) -> None:
        self._translator = translator
        self._default_language = default_language

    def __call__(self, notice: Notice) -> RenderedNotice:
        l10n = self._translator(notice.language or self._default_language)
        return RenderedNotice(notice_texts(notice, l10n), notice_markup(notice, l10n))


def notice_texts(notice: Notice, l10n: L10n) -> list[str]:
    params: dict[str, Any] = {"order_id": notice.order_id, **notice.params}
    if notice.chain is not None:
        params["coin"] = notice.chain.upper()
        for key in AMOUNTS:
            if key in params:
                params[key] = format_amount(notice.chain, int(params[key]))
        params.setdefault("address", notice.address)
    if "problem" in params:  # stored as the enum value; admins read it in their language
        params["problem"] = l10n(f"admin.problems.kind.{params['problem']}")
    text = l10n(f"notify.{notice.kind}", **params)
    if notice.delivers is None:
        return [text]
    if notice.params.get("overpaid"):
        text += "\n\n" + l10n("notify.overpaid_note")
    if not notice.goods:
        return chunks([text, l10n("notify.ship_soon")])
    return chunks([text, *(f"<code>{escape(g)}</code>" for g in notice.goods)])


def notice_markup(notice: Notice, l10n: L10n) -> InlineKeyboardMarkup | None:
    """The button that answers the notice, if it asks for something (ANSWERS); then a button to the order:
    the buyer's own view, or for an admin notice the admin order view."""
    rows = []
    if notice.kind in ANSWERS:
        key, pressed = ANSWERS[notice.kind]
        rows.append([button(l10n(key), pressed(notice))])
    if notice.order_id is not None:
        data = (
            open_order(notice.order_id)
            if notice.kind.startswith("admin.")
            else OrderCb(action=OrderAction.view, id=notice.order_id)
        )
        rows.append([button(f"#{notice.order_id}", data)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def chunks(parts: list[str]) -> list[str]:
    """Join parts into as few messages as fit Telegram's length limit."""
    messages: list[str] = []
    for part in parts:
        if messages and len(messages[-1]) + 1 + len(part) <= MESSAGE_LIMIT:
            messages[-1] += "\n" + part
        else:
            messages.append(part[:MESSAGE_LIMIT])
    return messages
