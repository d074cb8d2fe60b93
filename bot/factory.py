"""Builders for the bot, its dispatcher and storage. No module-level state: tests build many."""

import logging

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import ErrorEvent

from bot.container import SERVICES, Container
from bot.middlewares import DbSessionMiddleware, ServicesMiddleware, ThrottleMiddleware, UserMiddleware
from bot.replies import AnswerPressInReply
from config import Settings
from handlers import build_routers
from services.ratelimit import MemoryRateLimits, RateLimits, RedisRateLimits

log = logging.getLogger(__name__)


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """The bot at TELEGRAM_API_URL; tests pass their own recording session."""
    session = session or AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.bot_token.get_secret_value(), session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )


def create_stores(settings: Settings) -> tuple[BaseStorage, RateLimits]:
    """Conversation state and rate limits: in this process's memory, or, when REDIS_URL is set, in Redis
    (one client for both, closed with the storage), so that several instances share them."""
    if not settings.redis_url:
        return MemoryStorage(), MemoryRateLimits()
    # Imported here: the client costs about 6 MiB that a shop without Redis would carry for nothing.
    from aiogram.fsm.storage.redis import RedisStorage  # noqa: PLC0415
    from redis.asyncio import Redis  # noqa: PLC0415

    redis = Redis.from_url(settings.redis_url)
    return RedisStorage(redis), RedisRateLimits(redis)


async def on_error(event: ErrorEvent) -> bool:
    # The update itself may hold goods or personal data: log its id and the exception only.
    log.error("update %s failed", event.update.update_id, exc_info=event.exception)
    return True


def create_dispatcher(container: Container, storage: BaseStorage) -> Dispatcher:
    dp = Dispatcher(
        storage=storage,
        settings=container.settings,
        translator=container.translator,
        wallet=container.wallet,
        payment_watch=container.payment_watch,
    )
    dp.include_routers(*build_routers())
    # The user middleware's service, and those that filters ask for, before any handler is chosen
    eager = frozenset({"users"} | (asked_by_filters(dp) & SERVICES.keys()))
    dp.update.outer_middleware(ThrottleMiddleware(container))  # first: a throttled update costs no query
    dp.update.outer_middleware(DbSessionMiddleware(container, eager))
    dp.update.outer_middleware(UserMiddleware(container))
    for name, observer in dp.observers.items():
        if name != "update":  # its one handler is the dispatcher's, which passes everything on
            observer.middleware(ServicesMiddleware(container))
    dp.callback_query.middleware(AnswerPressInReply())
    dp.errors.register(on_error)
    return dp


def asked_by_filters(router: Router) -> set[str]:
    """The names that the filters in `router`'s tree (router-level ones included) ask for."""
    names: set[str] = set()
    for observer in router.observers.values():
        for handler in (observer._handler, *observer.handlers):
            for f in handler.filters or ():
                names |= f.params
    for sub in router.sub_routers:
        names |= asked_by_filters(sub)
    return names
