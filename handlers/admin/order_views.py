"""The admin order desk's buttons and texts: pure functions from DTOs and strings."""

from datetime import datetime
from enum import StrEnum
from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.admin.menu import AdminCb, AdminSection
from handlers.callbacks import Id, Page
from handlers.keyboards import button, paged
from l10n import L10n
from models.enums import OrderProblem, OrderStatus
from services.admin.dto import (
    AdminAction,
    AdminOrderView,
    OrderBucket,
    OrderMovedOn,
    OrderPage,
    OrderRow,
    TimelineEntry,
)
from services.dto import AddressState, NamedItem, OrderShipping
from services.money import Unit, format_amount, format_fiat


class AoAction(StrEnum):
    list = "l"
    view = "v"
    ship = "s"
    cancel = "c"
    confirm = "p"
    expire = "e"
    expire_now = "E"
    message = "m"  # write to the buyer


class AdminOrderCb(CallbackData, prefix="ao"):
    action: AoAction
    id: Id = 0
    bucket: OrderBucket = OrderBucket.awaiting
    page: Page = 0


class ApAction(StrEnum):
    list = "l"
    view = "v"
    fulfil = "f"
    fulfil_now = "F"
    refund = "r"
    close = "c"
    resend = "d"


class ProblemCb(CallbackData, prefix="ap"):
    action: ApAction
    id: Id = 0
    problem: OrderProblem | None = None  # the problem the admin saw: resolving another one is refused
    page: Page = 0


MESSAGE_LIMIT = 4096
SHOWN = 12  # order lines and payments in one view, so that it fits one message
ACTION_BUTTONS = {
    AdminAction.ship: AoAction.ship,
    AdminAction.confirm: AoAction.confirm,
    AdminAction.cancel: AoAction.cancel,
    AdminAction.expire: AoAction.expire,
}


def open_order(order_id: int) -> AdminOrderCb:
    """The admin view of one order: notification buttons and support copies use it too."""
    return AdminOrderCb(action=AoAction.view, id=order_id)


def when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def signed_amount(unit: Unit, base_units: int) -> str:
    sign = "−" if base_units < 0 else "+" if base_units > 0 else ""
    return sign + format_amount(unit, abs(base_units))


def status_label(status: OrderStatus, bucket: OrderBucket, l10n: L10n) -> str:
    """A paid order reads "ready for shipment" or "delivered", as in the lists."""
    if status is OrderStatus.paid:
        return l10n(f"admin.orders.bucket.{bucket.name}")
    return l10n(f"status.{status}")


def moved_on(error: OrderMovedOn, l10n: L10n) -> str:
    now = l10n(f"status.{error.status}")
    if error.problem is not None:
        now += ", " + l10n(f"admin.problems.kind.{error.problem}")
    return l10n("admin.orders.moved_on", now=now)


def refusal(error: Exception, order_id: int | str, l10n: L10n) -> str:
    """Why an action did nothing: the order moved on, or there is no such order."""
    if isinstance(error, OrderMovedOn):
        return moved_on(error, l10n)
    return l10n("admin.orders.not_found", order_id=order_id)


def buckets(counts: dict[OrderBucket, int], l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for bucket in OrderBucket:
        kb.button(
            text=l10n(
                "admin.orders.bucket_button",
                name=l10n(f"admin.orders.bucket.{bucket.name}"),
                count=counts.get(bucket, 0),
            ),
            callback_data=AdminOrderCb(action=AoAction.list, bucket=bucket),
        )
    kb.button(text=l10n("nav.back"), callback_data=AdminCb(section=AdminSection.home))
    kb.adjust(2)
    return kb.as_markup()


def order_list(page: OrderPage, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    name = l10n(f"admin.orders.bucket.{page.bucket.name}")
    title = (
        l10n("admin.orders.list", name=name, page=page.page + 1)
        if page.rows
        else l10n("admin.orders.list_empty", name=name)
    )
    items = [
        NamedItem(
            r.id,
            l10n(
                "admin.orders.row",
                order_id=r.id,
                date=when(r.created_at),
                total=format_fiat(r.total, r.currency),
                buyer=r.buyer,
            )
            + (f" · {l10n(f'status.{r.status}')}" if page.bucket is OrderBucket.all else "")
            + (" ⚠" if r.problem else ""),
        )
        for r in page.rows
    ]
    if page.bucket is OrderBucket.ready and page.rows:  # what the admin packs: the address of each
        title += "\n\n" + "\n\n".join(_ready_row(r, l10n) for r in page.rows)
    return title, paged(
        items,
        page.page,
        page.has_next,
        open_order,
        lambda p: AdminOrderCb(action=AoAction.list, bucket=page.bucket, page=p),
        AdminCb(section=AdminSection.orders),
        l10n,
    )


def _ready_row(row: OrderRow, l10n: L10n) -> str:
    head = f"<b>#{row.id}</b>"
    if row.shipping is None:
        return head
    if row.shipping.option:
        head += f" · {escape(row.shipping.option)}"
    return head + "\n" + ship_to(row.shipping, l10n)


def ship_to(shipping: OrderShipping, l10n: L10n) -> str:
    """Where the parcel goes, or why that cannot be shown."""
    if shipping.state is AddressState.given and shipping.address is not None:
        return l10n("admin.orders.ship_to", address=escape(shipping.address))
    if shipping.state is AddressState.erased and shipping.erased_at is not None:
        return l10n("admin.orders.address_erased", date=when(shipping.erased_at))
    return l10n(f"admin.orders.address_{shipping.state}")


def order_text(view: AdminOrderView, l10n: L10n) -> str:
    """The whole order; the oldest timeline entries give way when it would not fit one message."""
    timeline = view.timeline
    text = _order_text(view, timeline, l10n)
    while len(text) > MESSAGE_LIMIT and timeline:
        timeline = timeline[len(timeline) // 2 + 1 :]
        text = _order_text(view, timeline, l10n)
    return text


def _order_text(view: AdminOrderView, timeline: list[TimelineEntry], l10n: L10n) -> str:
    buyer = view.buyer
    head = l10n(
        "admin.orders.head",
        order_id=view.id,
        status=status_label(view.status, view.bucket, l10n),
        date=when(view.created_at),
        buyer=buyer.telegram_id,
        username=escape(f"@{buyer.username}") if buyer.username else "—",
        language=buyer.language,
    )
    if view.problem:
        head += "\n" + l10n("admin.orders.problem", problem=l10n(f"admin.problems.kind.{view.problem}"))
    lines = "\n".join(
        [
            *(
                f"{escape(line.name)} × {line.quantity} · {format_fiat(line.unit_price, view.currency)}"
                for line in view.lines[:SHOWN]
            ),
            *(["…"] if len(view.lines) > SHOWN else []),
        ]
    )
    total = l10n("admin.orders.total", total=format_fiat(view.total, view.currency))
    if view.shipping and view.shipping.option:
        price = format_fiat(view.shipping.price, view.currency)
        total = l10n("admin.orders.shipping", option=escape(view.shipping.option), price=price) + "\n" + total
    parts = [head, lines + "\n" + total]
    if view.shipping:
        parts.append(ship_to(view.shipping, l10n))
    if view.invoice:
        inv, coin = view.invoice, view.invoice.unit.label
        text = l10n(
            "admin.orders.invoice",
            amount=format_amount(inv.unit, inv.amount_due),
            coin=coin,
            address=inv.address,
            rate=format_fiat(inv.rate, view.currency),
            source=escape(inv.rate_source),
            rate_at=when(inv.rate_at),
            expires=when(inv.expires_at),
        )
        payments = [
            l10n(
                "admin.orders.payment",
                tx=_tx_link(p.natural_id, p.url),
                amount=format_amount(inv.unit, p.amount),
                coin=coin,
                confirmations=p.confirmations,
                block=p.block_height if p.block_height is not None else "—",
                status=l10n(f"admin.orders.payment_status.{p.status.value}"),
            )
            for p in view.payments[-SHOWN:]
        ]
        parts.append("\n".join([text, *payments] if payments else [text, l10n("admin.orders.no_payments")]))
    if view.tracking:
        parts.append(l10n("admin.orders.tracking", tracking=escape(view.tracking)))
    if view.close_reason:
        parts.append(l10n("admin.orders.closed", reason=escape(view.close_reason)))
    if timeline:
        parts.append("\n".join([l10n("admin.orders.timeline"), *(_entry(e, l10n) for e in timeline)]))
    return "\n\n".join(parts)


def _label(key: str, raw: str, l10n: L10n) -> str:
    """The entry's name in the admin's language; an action or message kind this version has no string for
    (written by another version of the shop) shows as it is stored."""
    return l10n(key) if key in l10n else escape(raw)


def _who(entry: TimelineEntry, l10n: L10n) -> str:
    if entry.role in ("admin", "buyer") and entry.telegram_id is not None:
        return l10n(f"admin.timeline.by.{entry.role}", id=entry.telegram_id)
    return _label(f"admin.timeline.by.{entry.role}", entry.role, l10n)


def _tx_link(natural_id: str, url: str | None) -> str:
    short = escape(natural_id if len(natural_id) <= 20 else f"{natural_id[:10]}…{natural_id[-8:]}")
    return f'<a href="{escape(url)}">{short}</a>' if url else f"<code>{short}</code>"


def _entry(entry: TimelineEntry, l10n: L10n) -> str:
    """ "2026-11-30 10:02 · paid · automatic · awaiting payment → paid", or for a message
    "2026-11-30 10:02 · ✉ goods delivered → buyer · sent", in the admin's language."""
    who = _who(entry, l10n)
    if entry.delivery is not None:
        label = _label(f"admin.timeline.notice.{entry.what}", entry.what, l10n)
        parts = [f"✉ {label} → {who}", l10n(f"admin.timeline.delivery.{entry.delivery}")]
    else:
        parts = [_label(f"admin.timeline.{entry.what}", entry.what, l10n), who]
        if entry.before and entry.after and entry.before is not entry.after:
            parts.append(f"{l10n(f'status.{entry.before}')} → {l10n(f'status.{entry.after}')}")
    text = " · ".join([when(entry.at), *parts])
    if entry.reason:
        reason = entry.reason if len(entry.reason) <= 80 else entry.reason[:79] + "…"
        text += f" · <i>{escape(reason)}</i>"
    return text


def order_keyboard(view: AdminOrderView, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for action, pressed in ACTION_BUTTONS.items():
        if action in view.actions:
            kb.row(button(l10n(f"admin.orders.do.{action}"), AdminOrderCb(action=pressed, id=view.id)))
    if view.problem:
        kb.row(button(l10n("admin.problems.open"), ProblemCb(action=ApAction.view, id=view.id)))
    back = AdminOrderCb(action=AoAction.list, bucket=view.bucket)
    kb.row(button(l10n("admin.orders.refresh"), open_order(view.id)), button(l10n("nav.back"), back))
    kb.row(button(l10n("admin.orders.do.message"), AdminOrderCb(action=AoAction.message, id=view.id)))
    return kb.as_markup()


def back_to_order(order_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    """Under a prompt for text: the way out without acting."""
    kb = InlineKeyboardBuilder()
    kb.row(button(l10n("admin.orders.abort"), open_order(order_id)))
    return kb.as_markup()


def confirm_expire(order_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(
        button(l10n("admin.orders.expire_yes"), AdminOrderCb(action=AoAction.expire_now, id=order_id)),
        button(l10n("nav.back"), open_order(order_id)),
    )
    return kb.as_markup()
