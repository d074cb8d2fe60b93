"""Migrations on both databases, config errors, money column types and /healthz."""

import os
import subprocess
import sys
from decimal import Decimal

from aiohttp.test_utils import TestClient, TestServer
from alembic import command
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from config import ROOT
from models.database import alembic_config, create_engine, create_sessionmaker
from models.enums import Chain
from models.orders import Invoice, Order
from models.shop import User
from models.types import utcnow
from processing.web import WebDeps, create_web_app


def test_migrations_downgrade_to_base_and_upgrade_again(db_url: str, engine) -> None:
    """Down to nothing and up again, from an empty database (`engine` empties PostgreSQL's: a downgrade
    refuses to drop rows it cannot keep, such as an earlier test's named variants)."""
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")


def run_bot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN"}}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_or_malformed_token_exits_2_with_one_line(tmp_path) -> None:
    for env in ({}, {"BOT_TOKEN": "not-a-token"}):
        result = run_bot(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db", **env)
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "BOT_TOKEN" in lines[0] and "README" in lines[0], result.stderr


def test_a_bot_api_url_without_scheme_exits_2_without_the_token(tmp_path) -> None:
    token = "123456789:AAbbccddeeffgghhiijjkkllmmnnooppqq"
    result = run_bot(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db", BOT_TOKEN=token, TELEGRAM_API_URL="api.telegram.org"
    )
    assert result.returncode == 2 and token not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_API_URL" in lines[0] and "http(s) URL" in lines[0], result.stderr


async def test_wei_amounts_and_rates_survive_the_database_exactly(sessions) -> None:
    wei = 123_456_789_012_345_678_901_234_567_890  # far beyond 64 bits
    async with sessions.begin() as s:
        user = User(telegram_id=2**40, language="en")
        s.add(user)
        await s.flush()
        order = Order(user_id=user.id, total_minor=1250, fiat_currency="USD", expires_at=utcnow())
        s.add(order)
        await s.flush()
        s.add(
            Invoice(
                order_id=order.id,
                chain=Chain.eth,
                derivation_index=0,
                address="0xabc",
                amount_due=wei,
                rate=Decimal("3000.123456789"),
                rate_source="fixed",
                rate_at=utcnow(),
                expires_at=utcnow(),
            )
        )
    async with sessions() as s:
        invoice = (await s.execute(select(Invoice))).scalar_one()
        assert invoice.amount_due == wei and isinstance(invoice.amount_due, int)
        assert invoice.rate == Decimal("3000.123456789")
        assert invoice.expires_at.tzinfo is not None
        assert (await s.execute(select(User.telegram_id))).scalar_one() == 2**40


async def test_healthz_reports_the_database(db_url: str, sessions) -> None:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:
        async with TestClient(TestServer(create_web_app(WebDeps(sessions=sessions, scheduler=scheduler)))) as c:
            response = await c.get("/healthz")
            assert response.status == 200
            assert (await response.json()) == {"status": "ok", "db": True, "scheduler": True}

        gone = create_sessionmaker(create_engine("postgresql+asyncpg://nobody:x@127.0.0.1:1/none"))
        async with TestClient(TestServer(create_web_app(WebDeps(sessions=gone, scheduler=scheduler)))) as c:
            response = await c.get("/healthz")
            assert response.status == 503
            assert (await response.json())["db"] is False
    finally:
        scheduler.shutdown(wait=False)
