"""Outer middlewares on every update: DB session and services, then the user and their strings."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.container import Container
from l10n import language_for
from services.shop.users import UserService

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, container: Container) -> None:
        self._container = container

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self._container.sessions() as session:
            data.update(self._container.services(session))
            return await handler(event, data)


class UserMiddleware(BaseMiddleware):
    """Registers the sender on first contact and picks their language."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: User | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return None  # nothing in this shop answers channels or other bots
        users: UserService = data["users"]
        language = language_for(sender.language_code, self._container.settings.default_language)
        user = await users.register(sender.id, sender.username, language)
        data["user"] = user
        data["l10n"] = self._container.translator(user.language)
        return await handler(event, data)
