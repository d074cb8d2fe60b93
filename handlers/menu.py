"""Main-menu entries whose features have not landed yet."""

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.callbacks import MenuAction, MenuCb
from handlers.render import alert
from l10n import L10n


async def coming_soon(query: CallbackQuery, l10n: L10n, callback_answer: CallbackAnswer) -> None:
    alert(callback_answer, l10n("menu.coming_soon"))


def build() -> Router:
    router = Router(name="menu")
    pending: set[MenuAction] = set()  # support now lives in handlers.support
    router.callback_query.register(coming_soon, MenuCb.filter(F.action.in_(pending)))
    return router
