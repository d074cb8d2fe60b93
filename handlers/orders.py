"""The invoice, "My orders", the check-now button and cancelling."""

from datetime import datetime
from html import escape

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.callbacks import MenuAction, MenuCb, OrderAction, OrderCb
from handlers.prices import price_lines
from handlers.render import alert, show
from l10n import L10n
from models.enums import OrderStatus
from models.types import utcnow
from services.dto import AddressState, InvoiceView, NamedItem, OrderShipping, OrderView, UserDTO
from services.money import format_amount, format_fiat
from services.orders.buyer import CannotCancel, OrderService
from services.payments.uri import qr_png
from services.payments.watch import PaymentWatch
from services.shop.catalog import NotFound
from services.wallet.merchant import AddressMismatch


def invoice_text(order: OrderView, invoice: InvoiceView, l10n: L10n, now: datetime) -> str:
    coin = invoice.chain.upper()
    text = l10n(
        "invoice.text",
        order_id=order.id,
        amount=format_amount(invoice.chain, invoice.amount_due),
        coin=coin,
        address=invoice.address,
        total=format_fiat(order.total, order.currency),
        rate=format_fiat(invoice.rate, order.currency),
        expires=invoice.expires_at.strftime("%Y-%m-%d %H:%M"),
        minutes=max(0, int((invoice.expires_at - now).total_seconds() // 60)),
    )
    if order.shipping and order.shipping.option:
        price = format_fiat(order.shipping.price, order.currency)
        text += "\n" + l10n("invoice.shipping", option=escape(order.shipping.option), price=price)
    if steps := price_lines(order.price, order.currency, l10n, coin):
        text += "\n" + "\n".join(steps)
    return text


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


def order_text(order: OrderView, l10n: L10n) -> str:
    paid_in = order.invoice.chain.upper() if order.invoice else None
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
        coin = order.invoice.chain.upper()
        parts.append(
            l10n(
                "order.invoice",
                amount=format_amount(order.invoice.chain, order.invoice.amount_due),
                coin=coin,
                address=order.invoice.address,
            )
        )
        parts += [
            l10n(
                "order.payment",
                amount=format_amount(order.invoice.chain, p.amount),
                coin=coin,
                confirmations=p.confirmations,
            )
            for p in order.payments
        ]
    if order.shipping:
        parts.append(shipping_text(order.shipping, order.currency, l10n))
    if order.tracking:
        parts.append(l10n("order.tracking", tracking=escape(order.tracking)))
    if order.goods:
        parts += [l10n("order.goods"), *(f"<code>{escape(g)}</code>" for g in order.goods)]
    if order.goods_unreadable:
        parts.append(l10n("order.goods_unreadable"))
    return "\n\n".join(parts)


async def send_order(query: CallbackQuery, order: OrderView, settings: Settings, l10n: L10n) -> None:
    """An open order is shown as its invoice: a QR photo of the payment URI with the details as caption."""
    if order.status not in OrderStatus.open() or order.invoice is None or query.bot is None or query.from_user is None:
        await show(query, order_text(order, l10n), keyboards.order(order, l10n))
        return
    photo = BufferedInputFile(qr_png(order.invoice.uri), filename=f"order-{order.id}.png")
    await query.bot.send_photo(
        query.from_user.id,
        photo,
        caption=invoice_text(order, order.invoice, l10n, utcnow()),
        reply_markup=keyboards.invoice(order.id, l10n, address=order.address_editable),
    )


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
    await send_order(query, view, settings, l10n)


async def cancel_order(
    query: CallbackQuery,
    callback_data: OrderCb,
    user: UserDTO,
    orders: OrderService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await orders.cancel(callback_data.id, user.id)
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        await list_orders(query, None, user, orders, l10n)
        return
    except CannotCancel:
        alert(callback_answer, l10n("order.cannot_cancel"))
        return
    await show(query, l10n("order.cancelled", order_id=callback_data.id), keyboards.main_menu(l10n))


def build() -> Router:
    router = Router(name="orders")
    router.callback_query.register(open_orders, MenuCb.filter(F.action == MenuAction.orders))
    router.callback_query.register(list_orders, OrderCb.filter(F.action == OrderAction.list))
    router.callback_query.register(view_order, OrderCb.filter(F.action.in_({OrderAction.view, OrderAction.check})))
    router.callback_query.register(cancel_order, OrderCb.filter(F.action == OrderAction.cancel))
    return router
