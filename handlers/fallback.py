"""Whatever no other handler took: garbage text, stale or forged buttons. Registered last."""

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers import keyboards
from handlers.render import alert
from l10n import L10n


async def unknown_message(message: Message, l10n: L10n) -> None:
    await message.answer(l10n("error.unknown_text"), reply_markup=keyboards.main_menu(l10n))


async def unknown_callback(query: CallbackQuery, l10n: L10n, callback_answer: CallbackAnswer) -> None:
    alert(callback_answer, l10n("error.stale"))
    if query.from_user is not None and query.bot is not None:
        await query.bot.send_message(query.from_user.id, l10n("menu.title"), reply_markup=keyboards.main_menu(l10n))


def build() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_message)
    router.callback_query.register(unknown_callback)
    return router
