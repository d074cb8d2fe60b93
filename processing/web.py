"""The aiohttp app beside the bot: health now; payment webhook and metrics plug in here."""

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
DB_CHECK_TIMEOUT_SECONDS = 3


@dataclass(frozen=True, slots=True)
class WebDeps:
    sessions: async_sessionmaker[AsyncSession]
    scheduler: AsyncIOScheduler


async def db_reachable(sessions: async_sessionmaker[AsyncSession]) -> bool:
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_SECONDS), sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as e:  # any failure means "not reachable"; the reason goes to the log only
        log.warning("health: database unreachable: %s", type(e).__name__)
        return False
    return True


def create_web_app(deps: WebDeps) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        body = {"db": await db_reachable(deps.sessions), "scheduler": deps.scheduler.running}
        healthy = all(body.values())
        return web.json_response({"status": "ok" if healthy else "fail", **body}, status=200 if healthy else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app
