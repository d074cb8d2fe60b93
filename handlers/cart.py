"""The cart: its lines, changing and clearing them. Checkout is handlers.checkout."""

from html import escape

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.callbacks import CartAction, CartCb, MenuAction, MenuCb
from handlers.prices import price_lines, problem_text
from handlers.render import alert, show
from l10n import L10n
from services.dto import CartView, UserDTO
from services.money import format_fiat
from services.shop.cart import CartService
from services.shop.catalog import NotFound


def cart_text(view: CartView, currency: str, l10n: L10n) -> str:
    """The lines, the buyer's discounts and the code's, and the goods' total; a code that takes nothing off says
    why."""
    if not view.lines:
        waiting = [l10n("cart.code_waiting", code=view.code)] if view.code else []
        return "\n\n".join([l10n("cart.empty"), *waiting])
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
        if line.available is not None and line.quantity > line.available:
            lines.append(l10n("cart.line_short", available=line.available))
    if view.price is not None:
        lines += price_lines(view.price, currency, l10n)
    if view.code_problem is not None:
        lines.append(l10n("cart.code_not_applied", problem=problem_text(view.code_problem, currency, l10n)))
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


def build() -> Router:
    router = Router(name="cart")
    router.callback_query.register(show_cart, MenuCb.filter(F.action == MenuAction.cart))
    router.callback_query.register(show_cart, CartCb.filter(F.action == CartAction.view))
    router.callback_query.register(edit_cart, CartCb.filter())
    return router
