"""The composition root: `python -m bot` runs the shop; `python -m bot <command>` runs a tool."""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import ValidationError

from bot.container import Container
from bot.factory import create_bot, create_dispatcher, create_storage
from config import ConfigError, Settings, check_bot_token
from l10n import Translator
from models.database import create_engine, create_sessionmaker, upgrade_database
from processing.web import WebDeps, create_web_app

log = logging.getLogger("bot")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigError(f"{name}: {err['msg']} (see README.md, 'Settings')") from None


async def run(settings: Settings) -> None:
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
    container = Container(settings=settings, sessions=create_sessionmaker(engine), translator=Translator())
    dp = create_dispatcher(container, create_storage(settings))
    scheduler = AsyncIOScheduler(timezone="UTC")
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
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Telegram shop bot, paid in crypto.")
    parser.add_subparsers(dest="command")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command is None:
            check_bot_token(settings)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    upgrade_database(settings.resolved_database_url)
    try:
        asyncio.run(run(settings))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
