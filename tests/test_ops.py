"""Running the shop: /healthz, /metrics, the notify and backup commands, and Telegram webhook mode."""

import asyncio
import contextlib
import os
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.methods import SendMessage, SetWebhook
from aiohttp.test_utils import TestClient, TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.__main__ import main
from bot.app import serve_telegram_updates, set_telegram_webhook, webhook_mode
from bot.cli_ops import default_webhook_url
from config import ROOT, ConfigError, Settings
from models.database import create_engine, create_sessionmaker
from models.enums import Chain, OrderStatus
from models.shop import Category, User
from processing.metrics import ShopMetrics
from processing.observer import Observer, ProviderHealth
from processing.web import HINT_CHECKS, WebDeps, create_web_app
from services.payments.seen import SeenPayment
from tests.doubles.telegram import FakeUser, TelegramDouble
from tests.payflow import Shop, place_order
from tests.process import bot_process
from tests.shop import seed_product
from tests.telegram import Telegram
from tests.test_webhook import PATH, SECRET, Hooked, StaticChain, hooked_fixture  # noqa: F401

TG_SECRET = "tg-secret_0123456789"


def families(text: str) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """Metric family -> {(sample name, sorted labels): value}; raises if the text is not Prometheus format."""
    return {
        family.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        for family in text_string_to_metric_families(text)
    }


@contextlib.contextmanager
def running_scheduler() -> Iterator[AsyncIOScheduler]:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:
        yield scheduler
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)


@pytest.fixture
async def gone_sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database that does not answer."""
    engine = create_engine("postgresql+asyncpg://nobody:x@127.0.0.1:1/none")
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_healthz_reports_db_scheduler_providers_and_open_invoices(
    settings, sessions, goods, gone_sessions
) -> None:
    await seed_product(sessions, units=2, goods=goods)
    await place_order(settings, sessions, 501, 1, 1, Chain.ltc)
    observer = Observer(sessions, settings, {Chain.btc: StaticChain(Chain.btc), Chain.ltc: StaticChain(Chain.ltc)})
    with running_scheduler() as scheduler:
        async with TestClient(TestServer(create_web_app(WebDeps(sessions, scheduler, observer)))) as client:

            async def health() -> tuple[int, dict[str, Any]]:
                response = await client.get("/healthz")
                return response.status, await response.json()

            status, body = await health()
            assert status == 200 and body == {
                "status": "ok",
                "db": True,
                "scheduler": True,
                "observer": {
                    "leader": False,
                    "open_invoices": 1,
                    "failing": [],
                    "chains": {
                        chain: {
                            "backend": "static",
                            "failures": 0,
                            "last_cycle_seconds": 0.0,
                            "last_ok_age_seconds": None,
                        }
                        for chain in ("btc", "ltc")
                    },
                },
            }

            await observer.observe(Chain.ltc)  # takes the lease, the provider answers
            status, body = await health()
            assert status == 200 and body["observer"]["leader"] is True
            assert 0 <= body["observer"]["chains"]["ltc"]["last_ok_age_seconds"] < 5

            observer.health.setdefault(Chain.btc, ProviderHealth()).failures = 3
            status, body = await health()
            assert (status, body["status"], body["observer"]["failing"]) == (200, "degraded", ["btc"])

            observer.health[Chain.ltc].failures = 7  # every configured provider failing
            status, body = await health()
            assert (status, body["status"], body["observer"]["failing"]) == (503, "fail", ["btc", "ltc"])

            observer.health[Chain.btc].failures = observer.health[Chain.ltc].failures = 0
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)
            status, body = await health()
            assert (status, body["status"], body["db"], body["scheduler"]) == (503, "fail", True, False)

    with running_scheduler() as scheduler:
        async with TestClient(TestServer(create_web_app(WebDeps(gone_sessions, scheduler, observer)))) as client:
            response = await client.get("/healthz")
            body = await response.json()
    assert response.status == 503 and body["db"] is False
    assert body["observer"]["open_invoices"] is None and body["observer"]["leader"] is None


async def test_metrics_parse_and_follow_the_shop(settings, sessions, goods, gone_sessions) -> None:
    metrics = ShopMetrics()
    chain = StaticChain(Chain.ltc)
    shop = Shop.build(settings, sessions, goods, Chain.ltc, metrics.instrument({Chain.ltc: chain})[Chain.ltc])
    deps = WebDeps(sessions, AsyncIOScheduler(timezone="UTC"), shop.observer, settings, metrics)
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(502, product, 1, Chain.ltc)
    chain.payments[invoice.address] = [
        SeenPayment("ef" * 32 + ":1", invoice.address, invoice.amount_due, 3, 98, "12" * 32)
    ]
    assert await shop.observer.check_address(Chain.ltc, invoice.address) is True
    chain.down = True
    await shop.observer.observe(Chain.ltc)  # a failing cycle (a failing one-off check leaves health alone)

    async with TestClient(TestServer(create_web_app(deps))) as client:
        response = await client.get("/metrics")
        assert response.status == 200 and response.content_type == "text/plain"
        found = families(await response.text())
    assert set(found) >= {
        "shop_db_up",
        "shop_orders",
        "shop_payments_credited",
        "shop_open_invoices",
        "shop_outbox_pending",
        "shop_observer_leader",
        "shop_observer_cycle_seconds",
        "shop_observer_last_success_age_seconds",
        "shop_provider_consecutive_failures",
        "shop_provider_failing",
        "shop_provider_errors",
        "shop_provider_request_seconds",
        "shop_webhook_requests",
        "shop_webhook_hint_checks",
        "shop_webhook_hint_seconds",
    }
    assert found["shop_db_up"][("shop_db_up", ())] == 1
    orders = {dict(labels)["status"]: value for (_, labels), value in found["shop_orders"].items()}
    assert orders == {status.value: (1 if status is OrderStatus.paid else 0) for status in OrderStatus}
    assert found["shop_payments_credited"][("shop_payments_credited", (("chain", "ltc"),))] == 1
    assert found["shop_open_invoices"][("shop_open_invoices", ())] == 0
    assert found["shop_outbox_pending"][("shop_outbox_pending", ())] >= 2  # "paid" to the buyer, admins told
    labels = (("backend", "static"), ("chain", "ltc"))
    assert found["shop_provider_errors"][("shop_provider_errors_total", labels)] == 1
    assert found["shop_provider_consecutive_failures"][("shop_provider_consecutive_failures", labels)] == 1
    assert found["shop_provider_failing"][("shop_provider_failing", labels)] == 0  # one failure: not yet failing
    scans = ("shop_provider_request_seconds_count", (("backend", "static"), ("call", "scan"), ("chain", "ltc")))
    assert found["shop_provider_request_seconds"][scans] == 2
    assert found["shop_webhook_requests"][("shop_webhook_requests_total", (("outcome", "accepted"),))] == 0

    gone = WebDeps(gone_sessions, AsyncIOScheduler(timezone="UTC"), shop.observer, settings)
    async with TestClient(TestServer(create_web_app(gone))) as client:
        response = await client.get("/metrics")
        found = families(await response.text())
    assert response.status == 200 and found["shop_db_up"][("shop_db_up", ())] == 0 and "shop_orders" not in found


async def test_backup_copies_sqlite_while_a_writer_is_busy(
    db_url: str, sessions, goods, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    await seed_product(sessions, units=3, goods=goods)
    monkeypatch.setenv("DATABASE_URL", db_url)
    target = tmp_path / "shop-backup.db"
    if db_url.startswith("postgresql"):
        assert main(["backup", str(target)]) == 2
        err = capsys.readouterr().err
        assert "pg_dump" in err and len(err.strip().splitlines()) == 1 and "postgres:" not in err
        assert not target.exists()
        return
    async with sessions.begin() as s:  # an open write transaction: the copy must neither wait nor see it
        s.add(Category(name="uncommitted"))
        await s.flush()
        assert await asyncio.wait_for(asyncio.to_thread(main, ["backup", str(target)]), 20) == 0
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT count(*) FROM stock_units").fetchone() == (3,)
        assert copy.execute("SELECT count(*) FROM categories WHERE name = 'uncommitted'").fetchone() == (0,)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() >= ("0003",)
    finally:
        copy.close()
    assert "backed up" in capsys.readouterr().out
    assert main(["backup", str(target)]) == 1  # never overwrites by accident
    assert "--force" in capsys.readouterr().err
    assert main(["backup", "--force", str(target)]) == 0
    assert not list(tmp_path.glob("*.partial"))


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_notify_command_sends_a_signed_hint(hooked: Hooked, sessions, goods) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await hooked.shop.order(503, product, 1, Chain.ltc)
    hooked.chain.payments[invoice.address] = [
        SeenPayment("aa" * 32 + ":0", invoice.address, invoice.amount_due, 2, 99, "bb" * 32)
    ]
    url = str(hooked.client.make_url(PATH))
    notify = ("notify", "--chain", "ltc", "--address", invoice.address, "--txid", "aa" * 32, "--url", url)
    assert await run_cli(*notify, "--event-id", "wn-1", env={"WEBHOOK_SECRET": SECRET}) == (0, "202 accepted\n", "")
    await hooked.client.app[HINT_CHECKS].wait()
    assert await hooked.shop.status(invoice.order_id) is OrderStatus.paid
    assert await run_cli(*notify, "--event-id", "wn-1", env={"WEBHOOK_SECRET": SECRET}) == (0, "202 duplicate\n", "")
    code, out, err = await run_cli(*notify, env={"WEBHOOK_SECRET": "not-the-secret"})
    assert (code, out) == (1, "") and "answered 401: bad signature" in err and "not-the-secret" not in err
    assert (await hooked.state())[0] == 1 and hooked.chain.scans == 1


def test_notify_default_url_and_webhook_mode_settings() -> None:
    base = Settings(_env_file=None)
    assert default_webhook_url(base) == "http://127.0.0.1:8080/payments/webhook"
    assert default_webhook_url(base.model_copy(update={"processing_host": "0.0.0.0"})).startswith("http://127.0.0.1:")
    assert default_webhook_url(base.model_copy(update={"processing_host": "::1"})).startswith("http://[::1]:")
    assert webhook_mode(base) is False
    for secret in ("", "with space"):
        with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
            webhook_mode(Settings(_env_file=None, telegram_webhook_url="https://x", telegram_webhook_secret=secret))
    with pytest.raises(ValueError, match="absolute URL path"):
        Settings(_env_file=None, webhook_path="payments")


def start_update(user_id: int, update_id: int = 1) -> dict[str, Any]:
    """What Telegram POSTs when a user sends /start."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": 10,
            "date": int(time.time()),
            "text": "/start",
            "from": {"id": user_id, "is_bot": False, "first_name": "Wanda", "language_code": "en"},
            "chat": {"id": user_id, "first_name": "Wanda", "type": "private"},
            "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
        },
    }


async def test_telegram_webhook_route_needs_the_secret(tg: Telegram, settings, sessions) -> None:
    pushed = settings.model_copy(
        update={"telegram_webhook_url": "https://shop.example/", "telegram_webhook_secret": SecretStr(TG_SECRET)}
    )
    app = create_web_app(WebDeps(sessions, AsyncIOScheduler(timezone="UTC")))
    serve_telegram_updates(app, tg.dp, tg.bot, pushed)
    async with TestClient(TestServer(app)) as client:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            response = await client.post("/telegram/webhook", json=start_update(601), headers=headers)
            assert response.status == 401
        await asyncio.sleep(0.2)
        assert tg.session.calls == []
        async with sessions() as s:
            assert (await s.execute(select(func.count()).select_from(User))).scalar_one() == 0

        response = await client.post(
            "/telegram/webhook", json=start_update(601), headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        )
        assert response.status == 200  # answered once the update was handled (its last call rides in the body)
        sent = [c for c in tg.session.calls if isinstance(c, SendMessage)]
    assert sent and sent[0].chat_id == 601 and sent[0].text.startswith("Welcome to the shop, Wanda")

    await set_telegram_webhook(tg.bot, tg.dp, pushed)
    call = tg.session.calls[-1]
    assert isinstance(call, SetWebhook) and call.url == "https://shop.example/telegram/webhook"
    assert call.secret_token == TG_SECRET and call.allowed_updates == tg.dp.resolve_used_update_types()


async def test_running_bot_in_webhook_mode(tmp_path: Path) -> None:
    """`python -m bot` with TELEGRAM_WEBHOOK_URL: setWebhook, updates and hints on one port, clean stop."""
    log = tmp_path / "bot.log"
    async with TelegramDouble() as tg:
        env = {
            **tg.env(),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shop.db",
            "TELEGRAM_WEBHOOK_URL": "https://shop.example",
            "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "WEBHOOK_SECRET": SECRET,
        }
        async with bot_process(env, log) as proc:
            port = int(re.search(r"processing server on http://[^:]+:(\d+)", log.read_text())[1])  # type: ignore[index]
            assert tg.webhook_url == "https://shop.example/telegram/webhook"
            (set_webhook,) = [c.params for c in tg.calls if c.method == "setWebhook"]
            assert set_webhook["secret_token"] == TG_SECRET and "message" in set_webhook["allowed_updates"]
            assert not [c for c in tg.calls if c.method in ("getUpdates", "deleteWebhook")]

            wanda = FakeUser(id=602, first_name="Wanda")
            update = await tg.user_sends_text(wanda, "/start")  # the double queues it; we deliver it as Telegram
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{base}/telegram/webhook", json=update) as response:
                    assert response.status == 401
                assert await tg.post_update(f"{base}/telegram/webhook", update, TG_SECRET) == 200
                welcome = await tg.next_sent(wanda.id, timeout=30)
                menu = await tg.next_sent(wanda.id, timeout=30)  # carried in the response to the POST
                code, out, _ = await run_cli(
                    "notify",
                    "--chain",
                    "btc",
                    "--address",
                    "bc1qnobody",
                    env={"WEBHOOK_SECRET": SECRET, "PROCESSING_PORT": str(port)},
                )
                async with http.get(f"{base}/metrics") as response:
                    found = families(await response.text())
                async with http.get(f"{base}/healthz") as response:
                    assert response.status == 200 and "observer" in await response.json()
        assert proc.returncode == 0, log.read_text()
    assert welcome["text"].startswith("Welcome to the shop, Wanda")
    assert menu["reply_markup"]["inline_keyboard"] and [c.method for c in tg.webhook_replies] == ["sendMessage"]
    assert (code, out) == (0, "202 accepted\n")
    assert found["shop_webhook_requests"][("shop_webhook_requests_total", (("outcome", "accepted"),))] == 1
    assert tg.webhook_url  # left in place on shutdown
    text = log.read_text()
    assert "Traceback" not in text and not any(s in text for s in (tg.token, TG_SECRET, SECRET))
