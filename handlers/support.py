"""Support: the buyer writes once (text or a photo), every admin gets a copy, and an admin's reply to
that copy goes back to the buyer. /start, /admin or any button leaves the waiting state."""

import logging
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from handlers import keyboards
from handlers.admin.order_views import open_order
from handlers.callbacks import MenuAction, MenuCb
from handlers.keyboards import button
from handlers.prompts import COMMAND, waiting_router
from handlers.render import relay, show
from l10n import L10n, Translator
from services.dto import UserDTO
from services.shop.support import Recipient, Relay, SupportRequest, SupportService, SupportThread

log = logging.getLogger(__name__)


class SupportForm(StatesGroup):
    waiting = State()


def _home(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[button(l10n("menu.main"), MenuCb(action=MenuAction.main))]])


def _answer_button(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[button(l10n("support.write_again"), MenuCb(action=MenuAction.support))]]
    )


async def ask(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.set_state(SupportForm.waiting)
    await show(query, l10n("support.ask"), _home(l10n))


async def forward(
    message: Message,
    state: FSMContext,
    user: UserDTO,
    support: SupportService,
    bot: Bot,
    translator: Translator,
    l10n: L10n,
) -> None:
    await state.set_state(None)
    sent = await support.forward(user, _relay(message, bot, translator))
    await message.answer(
        l10n("support.sent" if sent else "support.unavailable"), reply_markup=keyboards.main_menu(l10n)
    )


async def not_supported(message: Message, l10n: L10n) -> None:
    await message.answer(l10n("support.text_or_photo"), reply_markup=_home(l10n))


def _relay(message: Message, bot: Bot, translator: Translator) -> Relay:
    async def send(to: Recipient, request: SupportRequest) -> int | None:
        l10n = translator(to.language)
        order = request.latest_order_id
        header = l10n(
            "support.admin_header",
            buyer=request.buyer_telegram_id,
            username=escape(f"@{request.username}") if request.username else "—",
            order=f"#{order}" if order else "—",
        )
        markup = (
            InlineKeyboardMarkup(
                inline_keyboard=[[button(l10n("support.open_order", order_id=order), open_order(order))]]
            )
            if order
            else None
        )
        try:
            copy = await relay(bot, to.telegram_id, message, header, markup)
        except TelegramAPIError as e:
            log.warning("support copy to an admin failed: %s", type(e).__name__)
            return None
        return copy.message_id

    return send


class RepliesToSupport(Filter):
    """An admin's text or photo that replies to a support copy; hands the handler its `thread`."""

    async def __call__(self, message: Message, bot: Bot, support: SupportService) -> bool | dict[str, Any]:
        reply = message.reply_to_message
        if (
            reply is None
            or reply.from_user is None
            or reply.from_user.id != bot.id
            or message.from_user is None
            or not (message.text or message.photo)
        ):
            return False
        thread = await support.thread(message.from_user.id, reply.message_id)
        return {"thread": thread} if thread else False


async def admin_reply(
    message: Message, thread: SupportThread, support: SupportService, bot: Bot, translator: Translator, l10n: L10n
) -> None:
    async def deliver(to: SupportThread) -> bool:
        buyer = translator(to.buyer_language)
        header = buyer("support.reply")
        try:
            await relay(bot, to.buyer_telegram_id, message, header, _answer_button(buyer))
        except TelegramAPIError as e:
            log.warning("support reply to a buyer failed: %s", type(e).__name__)
            return False
        return True

    assert message.from_user is not None  # RepliesToSupport checked it
    delivered = await support.answer(message.from_user.id, thread, deliver)
    await message.reply(
        l10n("support.reply_sent" if delivered else "support.reply_failed", buyer=thread.buyer_telegram_id)
    )


def build() -> Router:
    """The buyer's side. Goes before the shop's routers, so that any button first ends the wait."""
    router, waiting = waiting_router("support", SupportForm)
    router.callback_query.register(ask, MenuCb.filter(F.action == MenuAction.support))
    router.message.register(forward, waiting, (F.text & ~COMMAND) | F.photo)
    router.message.register(not_supported, waiting, ~COMMAND)
    return router


def build_admin() -> Router:
    """The admins' side, included in the admin router (which checks who is an admin)."""
    router = Router(name="support-replies")
    router.message.register(admin_reply, RepliesToSupport())
    return router
