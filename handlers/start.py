"""/start, the main menu and the language switch."""

from html import escape

from aiogram import F, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.filters import CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers import keyboards
from handlers.callbacks import LanguageCb, MenuAction, MenuCb
from handlers.render import show
from l10n import LANGUAGES, L10n, Translator
from services.dto import UserDTO
from services.shop.users import UserService


async def start(message: Message, state: FSMContext, l10n: L10n) -> None:
    await state.clear()  # /start always leads home, whatever the buyer was doing
    name = message.from_user.first_name if message.from_user else ""
    await message.answer(l10n("start.welcome", name=escape(name)))
    await message.answer(l10n("menu.title"), reply_markup=keyboards.main_menu(l10n))


async def main_menu(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.clear()
    await show(query, l10n("menu.title"), keyboards.main_menu(l10n))


async def choose_language(query: CallbackQuery, l10n: L10n) -> None:
    await show(query, l10n("language.choose"), keyboards.languages(l10n))


async def set_language(
    query: CallbackQuery,
    callback_data: LanguageCb,
    user: UserDTO,
    users: UserService,
    translator: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    await users.set_language(user.id, callback_data.code)
    l10n = translator(callback_data.code)
    callback_answer.text = l10n("language.changed")
    await show(query, l10n("menu.title"), keyboards.main_menu(l10n))


async def bot_blocked_or_unblocked(event: ChatMemberUpdated, users: UserService) -> None:
    """Telegram tells the bot when a buyer blocks it (kicked) and when they come back (member)."""
    await users.set_blocked_bot(event.chat.id, event.new_chat_member.status == ChatMemberStatus.KICKED)


def build() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.my_chat_member.register(bot_blocked_or_unblocked, F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(main_menu, MenuCb.filter(F.action == MenuAction.main))
    router.callback_query.register(choose_language, MenuCb.filter(F.action == MenuAction.language))
    router.callback_query.register(set_language, LanguageCb.filter(F.code.in_(LANGUAGES)))
    return router
