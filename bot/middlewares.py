"""Outer middlewares on every update: the throttle, the DB session, the user, their strings and the ban. An
inner middleware on every kind of event builds the services the handler chosen asks for."""

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update, User

from bot.container import SERVICES, Container
from l10n import language_for
from models.database import close_session
from services.ratelimit import RateLimits
from services.shop.users import UserService

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
FROM_A_PERSON = frozenset({"message", "callback_query"})  # other updates are Telegram's own news
NOTICE_SECONDS = 60  # a flood of messages gets at most one reply per this long
SESSION = "db_session"  # the update's session in the middleware data; handlers ask for services instead


class DbSessionMiddleware(BaseMiddleware):
    """The update's one session, and the services that something runs before the handler is chosen asks for
    by name (`eager`: the user middleware's, the filters'). ServicesMiddleware adds the handler's own."""

    def __init__(self, container: Container, eager: frozenset[str]) -> None:
        self._container = container
        self._eager = eager

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session = self._container.sessions()
        try:
            data[SESSION] = session
            data.update(self._container.services(session, self._eager))
            return await handler(event, data)
        finally:
            await close_session(session)


class ServicesMiddleware(BaseMiddleware):
    """Inner, on every kind of event: the services the chosen handler asks for by name, on the update's
    session. An update builds the few its handler uses, not all thirty-odd."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chosen: HandlerObject = data["handler"]
        wanted = SERVICES.keys() if chosen.varkw else chosen.params & SERVICES.keys()
        missing = [name for name in wanted if name not in data]
        if missing:
            data.update(self._container.services(data[SESSION], missing))
        return await handler(event, data)


class UserMiddleware(BaseMiddleware):
    """Registers the sender on first contact and picks their language. A banned person's message or button
    press then gets one short answer and reaches no handler: no checkout, and no Support copy reaches an
    admin. (Broadcasts skip them in repositories.broadcast.) Admins are never turned away, so a slip in the
    users screen cannot lock one out."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: User | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return None  # nothing in this shop answers channels or other bots
        users: UserService = data["users"]
        settings = self._container.settings
        language = language_for(sender.language_code, settings.default_language)
        user = await users.register(sender.id, sender.username, language)
        data["user"] = user
        l10n = data["l10n"] = self._container.translator(user.language)
        if _from_a_person(event) and user.is_banned and user.telegram_id not in settings.admin_ids:
            await refuse(event, data["bot"], self._container.limits, l10n("error.banned"), f"banned:{user.telegram_id}")
            return None
        return await handler(event, data)


class ThrottleMiddleware(BaseMiddleware):
    """Per person and kind of update (messages, button presses): THROTTLE_BURST at once, then
    THROTTLE_PER_MINUTE. It runs before the database session, so a flood costs no queries, and answers in
    the language Telegram reports. Admins are exempt: their uploads and lists are work, not abuse."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        settings, limits = self._container.settings, self._container.limits
        sender: User | None = data.get("event_from_user")
        if _from_a_person(event) and sender is not None and sender.id not in settings.admin_ids:
            bucket = f"updates:{event.event_type}:{sender.id}"
            if not await limits.take(bucket, settings.throttle_burst, 60 / settings.throttle_per_minute):
                l10n = self._container.translator(language_for(sender.language_code, settings.default_language))
                await refuse(event, data["bot"], limits, l10n("error.slow_down"), f"slow-down:{bucket}")
                return None
        return await handler(event, data)


async def refuse(update: Update, bot: Bot, limits: RateLimits, text: str, notice: str) -> None:
    """One short answer, and nothing else happens. A button press always gets its alert (the person's app
    waits for an answer); a message gets a reply at most once per NOTICE_SECONDS per `notice` bucket, so a
    flood is not answered with a flood."""
    with contextlib.suppress(TelegramAPIError):  # best effort: the update is dropped either way
        if update.callback_query is not None:
            await bot.answer_callback_query(update.callback_query.id, text, show_alert=True)
        elif update.message is not None and await limits.take(notice, 1, NOTICE_SECONDS):
            await bot.send_message(update.message.chat.id, text)


def _from_a_person(event: TelegramObject) -> TypeGuard[Update]:
    """A message or a button press: what the throttle and the ban look at."""
    return isinstance(event, Update) and event.event_type in FROM_A_PERSON
