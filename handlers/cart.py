"""The cart, and checkout up to the invoice."""

from html import escape

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.callbacks import CartAction, CartCb, MenuAction, MenuCb, PayCb
from handlers.orders import send_order
from handlers.render import alert, show
from l10n import L10n
from services.dto import CartView, UserDTO
from services.money import format_fiat
from services.orders.buyer import OrderService
from services.orders.lifecycle import OutOfStock
from services.payments.rates import RateUnavailable
from services.payments.watch import PaymentWatch
from services.shop.cart import CartService
from services.shop.catalog import NotFound
from services.shop.checkout import CheckoutRefused, CheckoutService
from services.wallet.merchant import Wallet


def cart_text(view: CartView, currency: str, l10n: L10n) -> str:
    if not view.lines:
        return l10n("cart.empty")
    lines = [l10n("cart.title")]
    for line in view.lines:
        lines.append(
            l10n(
                "cart.line",
                name=escape(line.name),
                quantity=line.quantity,
                price=format_fiat(line.unit_price, currency),
                subtotal=format_fiat(line.subtotal, currency),
            )
        )
        if line.quantity > line.available:
            lines.append(l10n("cart.line_short", available=line.available))
    lines.append(l10n("cart.total", total=format_fiat(view.total, currency)))
    return "\n".join(lines)


async def show_cart(query: CallbackQuery, user: UserDTO, cart: CartService, settings: Settings, l10n: L10n) -> None:
    view = await cart.view(user.id)
    await show(query, cart_text(view, settings.fiat_currency, l10n), keyboards.cart(view, l10n))


async def edit_cart(
    query: CallbackQuery,
    callback_data: CartCb,
    user: UserDTO,
    cart: CartService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        if callback_data.action is CartAction.remove:
            view = await cart.remove(user.id, callback_data.item)
        elif callback_data.action is CartAction.clear:
            await cart.clear(user.id)
            callback_answer.text = l10n("cart.cleared")
            view = CartView([])
        else:
            view = await cart.change(user.id, callback_data.item, 1 if callback_data.action is CartAction.inc else -1)
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        view = await cart.view(user.id)
    await show(query, cart_text(view, settings.fiat_currency, l10n), keyboards.cart(view, l10n))


async def choose_chain(
    query: CallbackQuery,
    user: UserDTO,
    cart: CartService,
    wallet: Wallet,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    view = await cart.view(user.id)
    if not view.lines:
        alert(callback_answer, l10n("cart.empty"))
        await show(query, cart_text(view, settings.fiat_currency, l10n), keyboards.cart(view, l10n))
    elif not wallet.assets:
        alert(callback_answer, l10n("checkout.no_chains"))
    else:
        await show(
            query,
            l10n("checkout.choose_chain", total=format_fiat(view.total, settings.fiat_currency)),
            keyboards.assets(wallet.assets, l10n),
        )


async def pay(
    query: CallbackQuery,
    callback_data: PayCb,
    user: UserDTO,
    checkout: CheckoutService,
    orders: OrderService,
    cart: CartService,
    payment_watch: PaymentWatch,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        result = await checkout.checkout(user.id, callback_data.chain, callback_data.token or None)
    except CheckoutRefused as e:
        alert(callback_answer, l10n(e.key))
        return
    except RateUnavailable:
        alert(callback_answer, l10n("checkout.rate_unavailable"))
        return
    except OutOfStock as e:
        left = [l10n("checkout.left", name=escape(name), available=n) for name, n in e.shortages]
        view = await cart.view(user.id)
        await show(
            query,
            "\n".join([l10n("checkout.out_of_stock"), *left, "", cart_text(view, settings.fiat_currency, l10n)]),
            keyboards.cart(view, l10n),
        )
        return
    if result.existing:
        alert(callback_answer, l10n("checkout.existing"))
    try:
        order = await orders.view(result.order_id, user.id)
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        return
    if order.invoice and not result.existing:  # watched before the buyer can see, and pay, the address
        await payment_watch.watch_invoice(order.invoice.chain, order.invoice.address)
    await send_order(query, order, settings, l10n)


def build() -> Router:
    router = Router(name="cart")
    router.callback_query.register(show_cart, MenuCb.filter(F.action == MenuAction.cart))
    router.callback_query.register(show_cart, CartCb.filter(F.action == CartAction.view))
    router.callback_query.register(choose_chain, CartCb.filter(F.action == CartAction.checkout))
    router.callback_query.register(edit_cart, CartCb.filter())
    router.callback_query.register(pay, PayCb.filter())
    return router
