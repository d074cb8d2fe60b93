"""The aiohttp app beside the bot: /healthz, /metrics and the payment webhook.

In Telegram webhook mode `bot.app` adds the Telegram route to this same app (one port). Health and
metrics carry no secrets but reveal the shop's volume: expose only the webhook paths publicly.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client.aiohttp import make_aiohttp_handler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from models.types import utcnow
from processing.metrics import ShopMetrics
from processing.observer import Observer
from processing.webhook import HintChecks, payment_webhook
from services.health import ShopStats, StatsService
from services.payments.watchlist import LEASE

log = logging.getLogger(__name__)
DB_CHECK_TIMEOUT_SECONDS = 3
HINT_CHECKS = web.AppKey("hint_checks", HintChecks)


@dataclass(frozen=True, slots=True)
class WebDeps:
    sessions: async_sessionmaker[AsyncSession]
    scheduler: AsyncIOScheduler
    observer: Observer | None = None  # None: no chain section in /healthz and no payment webhook
    settings: Settings | None = None  # the payment webhook is served when WEBHOOK_SECRET is set here
    metrics: ShopMetrics = field(default_factory=ShopMetrics)


async def read_stats(deps: WebDeps, now: datetime) -> ShopStats | None:
    """The shop's counts, or None when the database does not answer within a few seconds."""
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_SECONDS), deps.sessions() as session:
            return await StatsService(session).snapshot(LEASE, now)
    except Exception as e:  # any failure means "not reachable"; the reason goes to the log only
        log.warning("health: database unreachable: %s", type(e).__name__)
        return None


def health_report(deps: WebDeps, stats: ShopStats | None, now: datetime) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz.

    503 when the database is unreachable, the scheduler is not running, or every configured chain
    provider is failing (services.payments.watch.ChainHealth.failing). Some failing providers: 200, status "degraded".
    """
    body: dict[str, Any] = {"db": stats is not None, "scheduler": deps.scheduler.running}
    healthy = body["db"] and body["scheduler"]
    failing: list[str] = []
    if deps.observer is not None:
        chains = deps.observer.chain_health(now)
        failing = [c.chain.value for c in chains if c.failing]
        healthy = healthy and not (chains and len(failing) == len(chains))
        body["observer"] = {
            "leader": stats.observer_lease_holder == deps.observer.holder if stats else None,
            "open_invoices": stats.open_invoices if stats else None,
            "chains": {
                c.chain.value: {
                    "backend": c.backend,
                    "failures": c.failures,
                    "last_cycle_seconds": round(c.last_cycle_seconds, 3),
                    "last_ok_age_seconds": None if c.last_ok_age_seconds is None else round(c.last_ok_age_seconds, 1),
                }
                for c in chains
            },
            "failing": failing,
        }
    status = "fail" if not healthy else "degraded" if failing else "ok"
    return (200 if healthy else 503), {"status": status, **body}


def create_web_app(deps: WebDeps) -> web.Application:
    expose = make_aiohttp_handler(deps.metrics.registry)

    async def healthz(_request: web.Request) -> web.Response:
        now = utcnow()
        status, body = health_report(deps, await read_stats(deps, now), now)
        return web.json_response(body, status=status)

    async def metrics(request: web.Request) -> web.StreamResponse:
        now, observer = utcnow(), deps.observer
        stats = await read_stats(deps, now)
        leader = stats.observer_lease_holder == observer.holder if stats and observer else None
        deps.metrics.refresh(stats, observer.chain_health(now) if observer else [], leader)
        return await expose(request)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    secret = deps.settings.webhook_secret.get_secret_value() if deps.settings else ""
    if deps.settings and secret and deps.observer is not None:
        checks = HintChecks(deps.observer.check_address, deps.metrics)
        app[HINT_CHECKS] = checks
        app.router.add_post(
            deps.settings.webhook_path,
            payment_webhook(secret, deps.settings.webhook_tolerance_seconds, deps.sessions, checks, deps.metrics),
        )

        async def finish_checks(_app: web.Application) -> None:
            await checks.close()

        app.on_shutdown.append(finish_checks)
    return app
