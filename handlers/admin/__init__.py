"""The admin panel. Access is checked once, here: the filters on this router gate every sub-router,
so no admin handler or callback can run for anyone outside ADMIN_IDS."""

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from config import Settings
from handlers.admin import menu


class IsAdmin(Filter):
    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        return event.from_user is not None and event.from_user.id in settings.admin_ids


def build() -> Router:
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.include_routers(menu.build())
    return router
