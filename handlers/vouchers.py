"""The voucher code on the cart: entering one (the next text message is the code), taking it off. A code can
also arrive through a deep link (handlers.start)."""

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from config import Settings
from handlers import keyboards
from handlers.callbacks import CartAction, CartCb
from handlers.cart import cart_text
from handlers.prices import problem_text
from handlers.prompts import COMMAND, waiting_router
from handlers.render import show
from l10n import L10n
from services.dto import UserDTO
from services.shop.cart import CartService
from services.shop.vouchers import VoucherRefused


class CodeForm(StatesGroup):
    code = State()


async def ask_code(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.set_state(CodeForm.code)
    await show(query, l10n("cart.ask_code"), keyboards.back_to_cart(l10n))


async def got_code(
    message: Message, user: UserDTO, cart: CartService, state: FSMContext, settings: Settings, l10n: L10n
) -> None:
    """A refused code is explained and changes nothing; the buyer may send another or go back."""
    try:
        view = await cart.apply_code(user.id, message.text or "")
    except VoucherRefused as e:
        text = problem_text(e.problem, settings.fiat_currency, l10n) + "\n" + l10n("cart.code_again")
        await message.answer(text, reply_markup=keyboards.back_to_cart(l10n))
        return
    await state.set_state(None)
    text = l10n("cart.code_applied", code=view.code) + "\n\n" + cart_text(view, settings.fiat_currency, l10n)
    await message.answer(text, reply_markup=keyboards.cart(view, l10n))


async def not_text(message: Message, l10n: L10n) -> None:
    await message.answer(
        l10n("voucher.malformed") + "\n" + l10n("cart.code_again"), reply_markup=keyboards.back_to_cart(l10n)
    )


async def drop_code(query: CallbackQuery, user: UserDTO, cart: CartService, settings: Settings, l10n: L10n) -> None:
    view = await cart.drop_code(user.id)
    await show(query, cart_text(view, settings.fiat_currency, l10n), keyboards.cart(view, l10n))


def build() -> Router:
    """Goes before the cart's router, whose last handler takes every other cart button."""
    router, waiting = waiting_router("vouchers", CodeForm)
    router.message.register(got_code, waiting, F.text & ~COMMAND)
    router.message.register(not_text, waiting, ~COMMAND)
    router.callback_query.register(ask_code, CartCb.filter(F.action == CartAction.code))
    router.callback_query.register(drop_code, CartCb.filter(F.action == CartAction.drop_code))
    return router
