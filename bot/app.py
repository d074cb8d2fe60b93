"""The running shop: bot polling, the processing web server and the scheduler in one event loop."""

import asyncio
import contextlib
import logging
import signal

from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.container import Container
from bot.factory import create_bot, create_dispatcher, create_storage
from config import ConfigError, Settings
from l10n import Translator
from models.database import create_engine, create_sessionmaker
from processing.chains.factory import build_backends
from processing.observer import Observer, schedule
from processing.web import WebDeps, create_web_app
from services.goods import goods_cipher
from services.notifier import OutboxSender
from services.rates import rate_service_from_settings
from services.wallet import Wallet

log = logging.getLogger("bot")


async def run(settings: Settings, wallet: Wallet) -> None:
    """Bot polling, the processing web server and the scheduler, until SIGINT or SIGTERM."""
    bot = create_bot(settings)
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        await bot.session.close()
        raise ConfigError("BOT_TOKEN was rejected by the Bot API (see README.md, 'Talking to @BotFather')") from None
    except TelegramNetworkError as e:
        await bot.session.close()
        raise ConfigError(f"TELEGRAM_API_URL: cannot reach the Bot API ({e.message})") from None
    log.info("bot @%s (id %s) starting", me.username, me.id)
    engine = create_engine(settings.resolved_database_url)
    sessions = create_sessionmaker(engine)
    observer = Observer(sessions, settings, build_backends(settings, wallet.chains))
    container = Container(settings=settings, sessions=sessions, translator=Translator(), wallet=wallet,
                          rates=rate_service_from_settings(settings), goods=goods_cipher(settings), observer=observer)
    dp = create_dispatcher(container, create_storage(settings))
    scheduler = AsyncIOScheduler(timezone="UTC")
    outbox = OutboxSender(sessions, bot, container.translator, container.goods, settings.default_language)
    schedule(scheduler, observer, outbox, settings.observer_interval_seconds)
    runner = web.AppRunner(create_web_app(WebDeps(sessions=container.sessions, scheduler=scheduler)),
                           access_log=None)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    await runner.setup()
    await web.TCPSite(runner, settings.processing_host, settings.processing_port).start()
    log.info("processing server on http://%s:%s", settings.processing_host, settings.processing_port)
    scheduler.start()
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        done, _ = await asyncio.wait({polling, asyncio.create_task(stop.wait())},
                                     return_when=asyncio.FIRST_COMPLETED)
        if polling in done:
            polling.result()  # polling died on its own: surface why
    finally:
        log.info("shutting down")
        if not polling.done():
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
            await polling
        scheduler.shutdown(wait=False)
        await runner.cleanup()
        await dp.storage.close()
        await bot.session.close()
        await container.rates.close()
        for backend in observer.backends.values():
            await backend.close()
        await engine.dispose()
