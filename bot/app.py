"""The running shop: Telegram updates, the processing web server and the scheduler in one event loop.

Updates arrive by long polling, or, when TELEGRAM_WEBHOOK_URL is set, by Telegram POSTing them to
TELEGRAM_WEBHOOK_PATH on the processing server (one port for everything). Webhook mode lets several
instances run behind a reverse proxy; polling allows exactly one.
"""

import asyncio
import contextlib
import gc
import logging
import re
import signal
from dataclasses import replace
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.container import Container
from bot.factory import create_bot, create_dispatcher, create_stores
from bot.telegram_types import warm_telegram_validators
from config import ConfigError, Settings
from l10n import Translator
from models.chains import CHAINS
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from models.types import utcnow
from processing.access import schedule_access
from processing.chains.factory import build_backends, build_token_backends
from processing.chains.holdings import TokenHoldings
from processing.chains.tokens import confirm_tokens
from processing.loop_lag import LoopLagProbe
from processing.metrics import ShopMetrics
from processing.observer import Observer, schedule
from processing.web import WebDeps, create_web_app
from services.admin.broadcast import BroadcastProgress
from services.payments.rates import rate_service_from_settings
from services.payments.watchlist import WatchList
from services.shop.users import KnownUsers
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import Wallet

log = logging.getLogger("bot")
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token
JOB_GRACE_SECONDS = 15  # on shutdown, how long running jobs (a provider call, a send) may take to finish


class RunningJobs:
    """Counts scheduler jobs in flight. APScheduler's asyncio executor cancels running jobs on
    shutdown, mid-transaction and with a traceback; draining first lets them finish cleanly."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        scheduler.add_listener(self._count, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _count(self, event: JobEvent) -> None:
        self._running = self._running + 1 if event.code == EVENT_JOB_SUBMITTED else max(0, self._running - 1)
        if self._running:
            self._idle.clear()
        else:
            self._idle.set()

    async def stop(self, scheduler: AsyncIOScheduler, timeout: float = JOB_GRACE_SECONDS) -> None:
        """No new runs; wait up to `timeout` for the running ones; then shut the scheduler down."""
        scheduler.pause()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        scheduler.shutdown(wait=False)


def freeze_startup_heap() -> None:
    """Build the validators every update needs (bot.telegram_types), then move every object alive after
    start-up (modules, the router tree, settings: a quarter of a million) out of the collector's reach. A full
    collection walks every tracked object, so without this each one stalls the event loop for over a hundred
    milliseconds while serving (`python -m bench dispatch`)."""
    warm_telegram_validators()
    gc.collect()
    gc.freeze()


def webhook_mode(settings: Settings) -> bool:
    """True when Telegram should push updates. Raises ConfigError without a usable secret token:
    the secret is the only thing that tells Telegram's POSTs from anyone else's."""
    if not settings.telegram_webhook_url:
        return False
    if not SECRET_TOKEN_RE.fullmatch(settings.telegram_webhook_secret.get_secret_value()):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET: required with TELEGRAM_WEBHOOK_URL; 1-256 characters "
            "of A-Z, a-z, 0-9, _ and - (see README.md, 'Telegram webhook mode')"
        )
    return True


def telegram_webhook_url(settings: Settings) -> str:
    return settings.telegram_webhook_url.rstrip("/") + settings.telegram_webhook_path


def serve_telegram_updates(app: web.Application, dp: Dispatcher, bot: Bot, settings: Settings) -> None:
    """Route TELEGRAM_WEBHOOK_PATH to the dispatcher. aiogram answers 401 unless the request carries
    X-Telegram-Bot-Api-Secret-Token = TELEGRAM_WEBHOOK_SECRET.

    An accepted update is handled before the response, and the method the update returns (its last call,
    bot.replies) is the response's body, which Telegram performs: one request to the Bot API fewer per
    button press. The cost: Telegram keeps a connection open per update being handled (at most the
    webhook's max_connections, 40 by default), so a slow handler holds one. A handler still running after
    55 s is left to finish in the background and Telegram gets an empty 200 (aiogram's
    feed_webhook_update). In exchange, an update whose instance dies while handling it gets no 200, and
    Telegram delivers it again, to whichever instance answers."""
    webhook_mode(settings)  # never serve the route without a secret
    SimpleRequestHandler(
        dp, bot, handle_in_background=False, secret_token=settings.telegram_webhook_secret.get_secret_value()
    ).register(app, path=settings.telegram_webhook_path)
    setup_application(app, dp, bot=bot)


async def set_telegram_webhook(bot: Bot, dp: Dispatcher, settings: Settings) -> None:
    """Point Telegram at this shop. Idempotent: every instance behind the proxy may call it."""
    try:
        await bot.set_webhook(
            url=telegram_webhook_url(settings),
            secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=dp.resolve_used_update_types(),
            drop_pending_updates=False,
        )
    except TelegramBadRequest as e:
        raise ConfigError(f"TELEGRAM_WEBHOOK_URL: Telegram refused the webhook ({e.message})") from None
    log.info("Telegram delivers updates to %s", telegram_webhook_url(settings))


async def check_bot_api(bot: Bot) -> None:
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        await bot.session.close()
        raise ConfigError("BOT_TOKEN was rejected by the Bot API (see README.md, 'Talking to @BotFather')") from None
    except TelegramNetworkError as e:
        await bot.session.close()
        reason = e.message.replace(bot.token, "<BOT_TOKEN>")  # the client's error may quote the request URL
        raise ConfigError(f"TELEGRAM_API_URL: cannot reach the Bot API ({reason})") from None
    log.info("bot @%s (id %s) starting", me.username, me.id)


async def warn_unreachable_admins(bot: Bot, admin_ids: frozenset[int]) -> None:
    """Log each admin the bot cannot write to: Telegram lets a bot message only people who have started a
    chat with it (and not blocked it), so such an admin would miss every alert without anyone noticing."""
    for admin_id in sorted(admin_ids):
        try:
            await bot.get_chat(admin_id)
        except (TelegramBadRequest, TelegramForbiddenError) as e:  # "chat not found": never pressed /start
            log.warning(
                "admin %s has no chat with the bot yet (%s): they get no alerts until they send it /start once",
                admin_id,
                e.message,
            )


async def poll_until(stop: asyncio.Event, dp: Dispatcher, bot: Bot) -> None:
    """Long-poll until `stop` is set; re-raise if polling dies on its own."""
    # A webhook left over from webhook mode makes getUpdates fail with 409; pending updates are kept.
    await bot.delete_webhook(drop_pending_updates=False)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        done, _ = await asyncio.wait({polling, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if polling in done:
            polling.result()  # polling died on its own: surface why
    finally:
        if not polling.done():
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
            await polling


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def chains_to_watch(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, wallet: Wallet
) -> list[Chain]:
    """The configured chains, and any other that still has invoices to watch: a coin removed from the
    settings keeps its observer until its orders have closed and MONITOR_HOURS passed, so no payment to
    them is lost and their stock is released on time. Buyers can no longer choose it."""
    async with sessions() as s:
        in_use = await WatchList(s).chains_in_use(utcnow() - timedelta(hours=settings.monitor_hours))
    for chain in sorted(in_use - set(wallet.chains)):
        log.warning("%s is no longer configured but has invoices to watch: still watching them", chain.upper())
    return [chain for chain in CHAINS if chain in wallet.chains or chain in in_use]


async def run(settings: Settings, wallet: Wallet, goods: GoodsCipher | None) -> None:
    """Updates, the processing web server and the scheduler, until SIGINT or SIGTERM. `goods` is
    services.wallet.goods.goods_cipher(settings), derived by the caller before aiogram is imported.

    On shutdown in webhook mode the webhook stays set: other instances may still serve it, and
    Telegram keeps undelivered updates (retrying for a while) until one answers.
    """
    pushed = webhook_mode(settings)
    wallet = replace(wallet, tokens=await confirm_tokens(settings, wallet.chains))
    bot = create_bot(settings)
    await check_bot_api(bot)
    await warn_unreachable_admins(bot, settings.admin_ids)
    engine = create_engine(settings.resolved_database_url)
    sessions = create_sessionmaker(engine)
    metrics = ShopMetrics()
    storage, limits = create_stores(settings)
    chains = await chains_to_watch(sessions, settings, wallet)
    observer = Observer(
        sessions,
        settings,
        metrics.instrument(build_backends(settings, chains)),
        metrics.instrument_tokens(build_token_backends(settings, chains)),
        limits=limits,
    )
    container = Container(
        settings=settings,
        sessions=sessions,
        translator=Translator(),
        wallet=wallet,
        rates=rate_service_from_settings(settings),
        goods=goods,
        observer=observer,
        holdings=TokenHoldings(observer.tokens),
        limits=limits,
        # Other instances may ban or rename a user: only a process that serves every update remembers users.
        known_users=KnownUsers(seconds=0) if pushed else KnownUsers(),
    )
    dp = create_dispatcher(container, storage)
    scheduler = AsyncIOScheduler(timezone="UTC")
    schedule(scheduler, observer, container.outbox_sender(bot), settings.observer_interval_seconds)
    schedule_access(scheduler, container.access_keeper(bot))
    progress = BroadcastProgress(sessions, bot, container.translator)
    scheduler.add_job(progress.report, "interval", seconds=2, id="broadcast-progress", max_instances=1, coalesce=True)
    jobs = RunningJobs(scheduler)
    app = create_web_app(
        WebDeps(sessions=sessions, scheduler=scheduler, observer=observer, settings=settings, metrics=metrics)
    )
    if pushed:
        serve_telegram_updates(app, dp, bot, settings)
    runner = web.AppRunner(app, access_log=None)
    stop = stop_on_signals()
    probe = LoopLagProbe(settings.loop_lag_probe_ms / 1000) if settings.loop_lag_probe_ms else None
    if probe:
        metrics.watch_loop(probe)
    freeze_startup_heap()

    await runner.setup()
    await web.TCPSite(runner, settings.processing_host, settings.processing_port).start()
    log.info("processing server on http://%s:%s", settings.processing_host, settings.processing_port)
    scheduler.start()
    lag = asyncio.create_task(probe.run()) if probe else None
    try:
        if pushed:
            await set_telegram_webhook(bot, dp, settings)
            await stop.wait()
        else:
            await poll_until(stop, dp, bot)
    finally:
        log.info("shutting down")
        if lag:
            lag.cancel()
        await jobs.stop(scheduler)
        await runner.cleanup()  # finishes running webhook hint checks, then closes the routes
        await dp.storage.close()
        await bot.session.close()
        await container.rates.close()
        for backend in observer.backends.values():
            await backend.close()
        for token_backend in observer.tokens.values():
            await token_backend.close()
        await engine.dispose()
