"""Main-menu entries whose features have not landed yet."""

from aiogram import F, Router
from aiogram.types import CallbackQuery

from handlers.callbacks import MenuAction, MenuCb
from l10n import L10n


async def coming_soon(query: CallbackQuery, l10n: L10n) -> None:
    await query.answer(l10n("menu.coming_soon"), show_alert=True)


def build() -> Router:
    router = Router(name="menu")
    pending = {MenuAction.shop, MenuAction.cart, MenuAction.orders, MenuAction.support}
    router.callback_query.register(coming_soon, MenuCb.filter(F.action.in_(pending)))
    return router
