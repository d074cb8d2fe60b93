"""Messages about one order: "✉ Message buyer" in the admin's order view sends text or a photo to the buyer,
with a button to answer; "Report a problem" under an order within its warranty alerts the admins and asks the
buyer to describe it; the buyer's answer (or description) goes to every admin, with buttons to answer again and to open
the order. Each one is on the order's timeline. Any button or command leaves the waiting state."""

import logging
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers import keyboards
from handlers.admin import order_views as views
from handlers.admin.order_views import AdminOrderCb, AoAction, open_order
from handlers.callbacks import OrderAction, OrderCb
from handlers.keyboards import button
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert, relay, send_below
from l10n import L10n, Translator
from services.admin.orders import AdminOrdersService
from services.dto import UserDTO
from services.orders.messages import Correspondent, OrderMessageService
from services.orders.warranty import WarrantyOver, WarrantyService
from services.shop.catalog import NotFound

log = logging.getLogger(__name__)


class BuyerReply(StatesGroup):
    waiting = State()  # data: order_id


class AdminMessage(StatesGroup):
    waiting = State()  # data: order_id


async def pass_on(bot: Bot, to: Correspondent, message: Message, header: str, markup: InlineKeyboardMarkup) -> bool:
    """`message` below `header`; False when Telegram would not take it (say, the buyer blocked the bot)."""
    try:
        await relay(bot, to.telegram_id, message, header, markup)
    except TelegramAPIError as e:
        log.warning("an order message could not be delivered: %s", type(e).__name__)
        return False
    return True


# The buyer's side


async def ask_reply(
    query: CallbackQuery,
    callback_data: OrderCb,
    user: UserDTO,
    order_messages: OrderMessageService,
    state: FSMContext,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await order_messages.check_buyer(callback_data.id, user.id)
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        return
    await wait_for_buyer(query, state, callback_data.id, l10n("order.ask_reply", order_id=callback_data.id), l10n)


async def wait_for_buyer(query: CallbackQuery, state: FSMContext, order_id: int, prompt: str, l10n: L10n) -> None:
    """The buyer's next message about the order goes to the admins; the prompt comes below what is on screen
    (the shop's message stays)."""
    await state.set_state(BuyerReply.waiting)
    await state.update_data(order_id=order_id)
    await send_below(query, prompt, keyboards.back_to_order(order_id, l10n))


async def report_problem(
    query: CallbackQuery,
    callback_data: OrderCb,
    user: UserDTO,
    warranty: WarrantyService,
    state: FSMContext,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """ "Report a problem" under an order within its warranty: the admins are alerted, and the buyer's next
    message goes to them as an answer about the order does."""
    try:
        await warranty.report(callback_data.id, user.id)
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        return
    except WarrantyOver:
        alert(callback_answer, l10n("order.warranty_over"))
        return
    await wait_for_buyer(query, state, callback_data.id, l10n("order.ask_problem", order_id=callback_data.id), l10n)


async def buyer_reply(
    message: Message,
    user: UserDTO,
    order_messages: OrderMessageService,
    state: FSMContext,
    bot: Bot,
    translator: Translator,
    l10n: L10n,
) -> None:
    order_id = int((await state.get_data())["order_id"])
    await state.set_state(None)

    async def deliver(to: Correspondent) -> bool:
        admin = translator(to.language)
        header = admin(
            "admin.orders.message_header",
            order_id=order_id,
            buyer=user.telegram_id,
            username=escape(f"@{user.username}") if user.username else "—",
        )
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [button(admin("admin.orders.answer"), AdminOrderCb(action=AoAction.message, id=order_id))],
                [button(admin("support.open_order", order_id=order_id), open_order(order_id))],
            ]
        )
        return await pass_on(bot, to, message, header, markup)

    try:
        reached = await order_messages.from_buyer(order_id, user.id, deliver, photo=bool(message.photo))
    except NotFound:
        await message.answer(l10n("error.stale"), reply_markup=keyboards.main_menu(l10n))
        return
    text = l10n("order.reply_sent" if reached else "support.unavailable")
    await message.answer(text, reply_markup=keyboards.back_to_order(order_id, l10n))


async def buyer_not_supported(message: Message, state: FSMContext, l10n: L10n) -> None:
    order_id = int((await state.get_data())["order_id"])
    await message.answer(l10n("support.text_or_photo"), reply_markup=keyboards.back_to_order(order_id, l10n))


# The admins' side


async def ask_message(
    query: CallbackQuery,
    callback_data: AdminOrderCb,
    order_messages: OrderMessageService,
    state: FSMContext,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await order_messages.thread(callback_data.id)
    except NotFound:
        alert(callback_answer, l10n("admin.orders.not_found", order_id=callback_data.id))
        return
    await state.set_state(AdminMessage.waiting)
    await state.update_data(order_id=callback_data.id)
    text = l10n("admin.orders.ask_message", order_id=callback_data.id)
    await send_below(query, text, views.back_to_order(callback_data.id, l10n))  # what the buyer wrote stays


async def admin_message(
    message: Message,
    state: FSMContext,
    order_messages: OrderMessageService,
    admin_orders: AdminOrdersService,
    bot: Bot,
    translator: Translator,
    l10n: L10n,
) -> None:
    order_id = int((await state.get_data())["order_id"])
    await state.clear()
    assert message.from_user is not None  # the admin router's filter let only known users in

    async def deliver(to: Correspondent) -> bool:
        buyer = translator(to.language)
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [button(buyer("order.reply"), OrderCb(action=OrderAction.reply, id=order_id))],
                [button(buyer("support.open_order", order_id=order_id), OrderCb(action=OrderAction.view, id=order_id))],
            ]
        )
        return await pass_on(bot, to, message, buyer("order.message_from_shop", order_id=order_id), markup)

    try:
        delivered = await order_messages.to_buyer(order_id, message.from_user.id, deliver, photo=bool(message.photo))
        view = await admin_orders.view(order_id)
    except NotFound:
        await message.answer(l10n("admin.orders.not_found", order_id=order_id))
        return
    done = l10n("admin.orders.message_sent" if delivered else "admin.orders.message_failed", order_id=order_id)
    await message.answer(done + "\n\n" + views.order_text(view, l10n), reply_markup=views.order_keyboard(view, l10n))


async def admin_not_supported(message: Message, state: FSMContext, l10n: L10n) -> None:
    order_id = int((await state.get_data())["order_id"])
    await message.answer(l10n("admin.orders.text_or_photo"), reply_markup=views.back_to_order(order_id, l10n))


def build() -> Router:
    """The buyer's side. Goes before the shop's routers, so that any button first ends the wait."""
    router, waiting = waiting_router("order-messages", BuyerReply)
    router.message.register(buyer_reply, waiting, (F.text & ~COMMAND) | F.photo)
    router.message.register(buyer_not_supported, waiting, ~COMMAND)
    router.callback_query.register(ask_reply, OrderCb.filter(F.action == OrderAction.reply))
    router.callback_query.register(report_problem, OrderCb.filter(F.action == OrderAction.problem))
    return router


def build_admin() -> Router:
    """The admins' side, included in the admin router (which checks who is an admin) before the sections,
    so that any of their buttons first ends the wait."""
    router, waiting = waiting_router("admin-order-messages", AdminMessage)
    router.message.register(admin_message, waiting, (F.text & ~COMMAND) | F.photo)
    router.message.register(admin_not_supported, waiting, ~COMMAND)
    router.callback_query.register(ask_message, AdminOrderCb.filter(F.action == AoAction.message))
    return router
