"""The invoice, "My orders", the check-now button and cancelling."""

from datetime import datetime
from html import escape

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.callbacks import MenuAction, MenuCb, OrderAction, OrderCb
from handlers.goods import with_goods
from handlers.kinds import warranty_text
from handlers.prices import price_lines
from handlers.render import alert, show
from l10n import L10n
from models.enums import OrderStatus, PaymentStatus
from models.types import utcnow
from services.dto import AddressState, InvoiceView, NamedItem, OrderShipping, OrderView, UserDTO
from services.money import format_amount, format_fiat
from services.orders.buyer import CannotCancel, OrderService
from services.payments.uri import qr_png
from services.payments.watch import PaymentWatch
from services.shop.catalog import NotFound
from services.wallet.merchant import AddressMismatch


def invoice_text(order: OrderView, invoice: InvoiceView, l10n: L10n, now: datetime) -> str:
    unit = invoice.unit
    text = l10n(
        "invoice.text",
        order_id=order.id,
        amount=format_amount(unit, invoice.amount_due),
        coin=unit.symbol,
        address=invoice.address,
        total=format_fiat(order.total, order.currency),
        rate=format_fiat(invoice.rate, order.currency),
        expires=invoice.expires_at.strftime("%Y-%m-%d %H:%M"),
        minutes=max(0, int((invoice.expires_at - now).total_seconds() // 60)),
    )
    if order.shipping and order.shipping.option:
        price = format_fiat(order.shipping.price, order.currency)
        text += "\n" + l10n("invoice.shipping", option=escape(order.shipping.option), price=price)
    if steps := price_lines(order.price, order.currency, l10n, unit.label):
        text += "\n" + "\n".join(steps)
    if unit.token is None:
        return text
    # The same symbol lives on several networks; only this one reaches the address, the rest is lost.
    return text + "\n\n" + l10n("invoice.token_network", coin=unit.symbol, network=unit.network, token=unit.token)


def shipping_text(shipping: OrderShipping, currency: str, l10n: L10n) -> str:
    """The option and where the parcel goes, as its buyer sees them."""
    parts = []
    if shipping.option:
        price = format_fiat(shipping.price, currency)
        parts.append(l10n("order.shipping", option=escape(shipping.option), price=price))
    if shipping.state is AddressState.given and shipping.address is not None:
        parts.append(l10n("order.ship_to", address=escape(shipping.address)))
    elif shipping.state is AddressState.erased and shipping.erased_at is not None:
        parts.append(l10n("order.address_erased", date=shipping.erased_at.strftime("%Y-%m-%d")))
    else:
        parts.append(l10n(f"order.address_{shipping.state}"))
    return "\n".join(parts)


def order_text(order: OrderView, settings: Settings, l10n: L10n) -> tuple[str, list[BufferedInputFile]]:
    """The order in full, and its documents: a .txt file of its goods when they do not fit one message with it,
    and the documents sold as goods."""
    paid_in = order.invoice.unit.label if order.invoice else None
    lines = "\n".join(
        [
            *(
                f"{escape(line.name)} × {line.quantity} · {format_fiat(line.unit_price, order.currency)}"
                for line in order.lines
            ),
            *price_lines(order.price, order.currency, l10n, paid_in),
        ]
    )
    parts = [
        l10n(
            "order.detail",
            order_id=order.id,
            status=l10n(f"status.{order.status}"),
            date=order.created_at.strftime("%Y-%m-%d %H:%M"),
            lines=lines,
            total=format_fiat(order.total, order.currency),
        )
    ]
    if order.invoice:
        invoice, coin = order.invoice, order.invoice.unit.label
        if order.status is OrderStatus.confirming:  # what arrived, never the invoice: no second payment
            parts.append(confirming_text(order, invoice, settings, l10n))
        else:
            amount = format_amount(invoice.unit, invoice.amount_due)
            parts.append(l10n("order.invoice", amount=amount, coin=coin, address=invoice.address))
        parts += [
            l10n(
                "order.payment",
                amount=format_amount(invoice.unit, p.amount),
                coin=coin,
                confirmations=p.confirmations,
            )
            for p in order.payments
        ]
    if order.shipping:
        parts.append(shipping_text(order.shipping, order.currency, l10n))
    if order.tracking:
        parts.append(l10n("order.tracking", tracking=escape(order.tracking)))
    if order.goods_unreadable:
        parts.append(l10n("order.goods_unreadable"))
    if order.warranty_until is not None:
        parts.append(warranty_text(order.warranty_until, order.under_warranty, l10n))
    if order.goods or order.files:
        parts.append(l10n("order.goods"))
        return with_goods("\n\n".join(parts), order.goods, order.id, l10n, sep="\n\n", files=order.files)
    return "\n\n".join(parts), []


def confirming_text(order: OrderView, invoice: InvoiceView, settings: Settings, l10n: L10n) -> str:
    """Money seen and confirming: how much, how deep, and only when it is short, what is still to send."""
    coin = invoice.unit.label
    seen = {
        "received": format_amount(invoice.unit, order.received),
        "amount": format_amount(invoice.unit, invoice.amount_due),
        "coin": coin,
        "confirmations": max(
            (p.confirmations for p in order.payments if p.status is not PaymentStatus.reorged), default=0
        ),
        "required": settings.confirmations(invoice.chain),
    }
    if not order.remainder:
        return l10n("order.confirming", **seen)
    remainder = format_amount(invoice.unit, order.remainder)
    return l10n("order.confirming_short", **seen, remainder=remainder, address=invoice.address)


async def send_order(
    query: CallbackQuery, order: OrderView, orders: OrderService, settings: Settings, l10n: L10n
) -> None:
    """An order awaiting payment is shown as its invoice: a QR photo of the payment URI with the details as
    caption, remembered so that it is edited once the order moves on. Any other order as text."""
    if (
        order.status is not OrderStatus.awaiting_payment
        or order.invoice is None
        or query.bot is None
        or query.from_user is None
    ):
        text, documents = order_text(order, settings, l10n)
        await show(query, text, keyboards.order(order, l10n))
        for document in documents:
            if query.bot is not None and query.from_user is not None:
                await query.bot.send_document(query.from_user.id, document)
        return
    photo = BufferedInputFile(qr_png(order.invoice.uri), filename=f"order-{order.id}.png")
    sent = await query.bot.send_photo(
        query.from_user.id,
        photo,
        caption=invoice_text(order, order.invoice, l10n, utcnow()),
        reply_markup=keyboards.invoice(order.id, l10n, address=order.address_editable),
    )
    await orders.invoice_shown(order.id, sent.chat.id, sent.message_id)


async def list_orders(
    query: CallbackQuery, callback_data: OrderCb | None, user: UserDTO, orders: OrderService, l10n: L10n
) -> None:
    page = max(callback_data.page, 0) if callback_data else 0
    rows, more = await orders.list(user.id, page)
    items = [
        NamedItem(
            o.id,
            l10n(
                "orders.row", order_id=o.id, date=o.created_at.strftime("%Y-%m-%d"), status=l10n(f"status.{o.status}")
            ),
        )
        for o in rows
    ]
    await show(
        query, l10n("orders.title") if items else l10n("orders.empty"), keyboards.orders(items, page, more, l10n)
    )


async def open_orders(query: CallbackQuery, user: UserDTO, orders: OrderService, l10n: L10n) -> None:
    await list_orders(query, None, user, orders, l10n)


async def view_order(
    query: CallbackQuery,
    callback_data: OrderCb,
    user: UserDTO,
    orders: OrderService,
    payment_watch: PaymentWatch,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        view = await orders.view(callback_data.id, user.id)
        if callback_data.action is OrderAction.check and view.invoice and view.status in OrderStatus.open():
            if await payment_watch.check_now(view.invoice.chain, view.invoice.address) is None:
                callback_answer.text = l10n("invoice.check_failed")
            view = await orders.view(callback_data.id, user.id)
            if view.status is OrderStatus.awaiting_payment and not callback_answer.text:
                callback_answer.text = l10n("invoice.not_seen")
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        await list_orders(query, None, user, orders, l10n)
        return
    except AddressMismatch:  # the shop's key changed under an open invoice: never show a wrong address
        alert(callback_answer, l10n("order.address_mismatch"))
        return
    await send_order(query, view, orders, settings, l10n)


async def cancel_order(
    query: CallbackQuery,
    callback_data: OrderCb,
    user: UserDTO,
    orders: OrderService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """Cancel asks first (it sits one tap below "check now", and a payment on its way would arrive late);
    the confirmation cancels."""
    order_id, confirmed = callback_data.id, callback_data.action is OrderAction.cancel_confirmed
    try:
        if confirmed:
            await orders.cancel(order_id, user.id)
        elif not await orders.can_cancel(order_id, user.id):
            raise CannotCancel
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        await list_orders(query, None, user, orders, l10n)
        return
    except CannotCancel:
        alert(callback_answer, l10n("order.cannot_cancel"))
        return
    if confirmed:
        await show(query, l10n("order.cancelled", order_id=order_id), keyboards.cancelled(l10n))
    else:
        await show(query, l10n("order.cancel_ask", order_id=order_id), keyboards.confirm_cancel(order_id, l10n))


def build() -> Router:
    router = Router(name="orders")
    router.callback_query.register(open_orders, MenuCb.filter(F.action == MenuAction.orders))
    router.callback_query.register(list_orders, OrderCb.filter(F.action == OrderAction.list))
    router.callback_query.register(view_order, OrderCb.filter(F.action.in_({OrderAction.view, OrderAction.check})))
    cancels = {OrderAction.cancel, OrderAction.cancel_confirmed}
    router.callback_query.register(cancel_order, OrderCb.filter(F.action.in_(cancels)))
    return router
