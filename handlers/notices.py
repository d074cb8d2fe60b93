"""Outbox notices as Telegram messages: the l10n key and params become a text, an "#order" button and,
for goods that do not fit one message, a .txt file. Pure (no I/O); processing.outbox sends what this
returns, services.delivery loads the notice."""

from typing import Any, NamedTuple

from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from handlers.admin.order_views import open_order
from handlers.callbacks import OrderAction, OrderCb
from handlers.goods import with_goods
from handlers.keyboards import button
from l10n import L10n, Translator
from services.delivery import Notice
from services.money import format_amount

AMOUNTS = ("remainder", "received", "short_by", "overpaid_by")  # params queued in base units of the invoice's coin
# Kinds worded per case: the param whose value picks the text notify.<kind>.<value> (without it: notify.<kind>).
CASES = {
    "admin.paid": "problem",
    "admin.problem": "problem",
    "invoice_closed": "status",
    "admin.access_renewal_failed": "why",
}


class RenderedNotice(NamedTuple):
    text: str
    markup: InlineKeyboardMarkup | None  # an edit has none: an invoice loses its buttons
    document: BufferedInputFile | None = None  # sent after the text: goods too long for one message


class NoticeRenderer:
    """Renders a notice in its recipient's language, or the shop's default for a chat that is no user."""

    def __init__(self, translator: Translator, default_language: str) -> None:
        self._translator = translator
        self._default_language = default_language

    def __call__(self, notice: Notice) -> RenderedNotice:
        l10n = self._translator(notice.language or self._default_language)
        text, document = notice_text(notice, l10n)
        return RenderedNotice(text, None if notice.edits is not None else open_order_button(notice), document)


def notice_text(notice: Notice, l10n: L10n) -> tuple[str, BufferedInputFile | None]:
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
        return text, None
    if notice.params.get("overpaid"):
        text += "\n\n" + l10n("notify.overpaid_note")
    if not notice.goods:  # a parcel follows, or the invite link of channel access
        return text + "\n" + l10n("notify.access_soon" if notice.params.get("access") else "notify.ship_soon"), None
    return with_goods(text, notice.goods, notice.order_id, l10n, sep="\n")


def open_order_button(notice: Notice) -> InlineKeyboardMarkup | None:
    """A button to the order: the buyer's own view, or for an admin notice the admin order view."""
    if notice.order_id is None:
        return None
    data = (
        open_order(notice.order_id)
        if notice.kind.startswith("admin.")
        else OrderCb(action=OrderAction.view, id=notice.order_id)
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button(f"#{notice.order_id}", data)]])
