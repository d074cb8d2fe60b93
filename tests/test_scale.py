"""More than one process: conversation state in Redis (RedisStorage through the real Dispatcher), two
`python -m bot` instances in Telegram webhook mode on one PostgreSQL and one Redis with a conversation
alternating between them update by update, and the observer lease passing to the survivor when its
holder is killed. The process tests are marked `scale` (slow; CI runs them with `make stress`)."""

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.factory import create_bot, create_dispatcher
from config import Settings
from handlers.admin.menu import AdminCb, AdminSection
from models.enums import Chain, OrderStatus
from models.orders import Order
from models.shop import Product, Variant
from tests.conftest import ADMIN_ID, RATES, REDIS_URL
from tests.doubles.esplora import EsploraDouble
from tests.doubles.telegram import FakeUser, TelegramDouble, find_button
from tests.keys import BTC_ZPUB, WALLET_KEY
from tests.nodes import missing
from tests.payflow import place_order
from tests.process import bot_process
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_kills import INVARIANTS

TG_SECRET = "scale-test-secret"
WAIT = 60
LEASE_SECONDS = 60  # processing.observer: max(60, 3 * OBSERVER_INTERVAL_SECONDS)


@pytest.fixture
async def redis_storage() -> AsyncIterator[RedisStorage]:
    """Conversation state in the TEST_REDIS_URL server, under a prefix of this test's own."""
    if not REDIS_URL:
        missing("TEST_REDIS_URL is not set")
    prefix = f"test-fsm-{uuid.uuid4().hex}"
    storage = RedisStorage(Redis.from_url(REDIS_URL), key_builder=DefaultKeyBuilder(prefix=prefix))
    yield storage
    keys = [key async for key in storage.redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await storage.redis.delete(*keys)
    await storage.close()


async def test_the_admins_product_dialog_in_redis_alternating_between_two_dispatchers(
    container, redis_storage: RedisStorage, sessions
) -> None:
    """Two dispatchers (two instances' worth) share one Redis: each prompt is answered on the other one."""
    session = RecordingSession()
    bot = create_bot(container.settings, session)
    instances = [Telegram(dp=create_dispatcher(container, redis_storage), bot=bot, session=session) for _ in "ab"]
    turn = iter(range(100))

    def next_one() -> Telegram:
        return instances[next(turn) % 2]

    admin = Person(id=ADMIN_ID, first_name="Ada")
    calls = await next_one().press(admin, AdminCb(section=AdminSection.inventory))
    calls = await next_one().press(admin, buttons(calls)["➕ New category"])
    assert texts(calls) == ["Send the name of the new category."]
    assert [key async for key in redis_storage.redis.scan_iter(match="test-fsm-*")]  # the prompt's state is there
    calls = await next_one().send(admin, "Games")
    calls = await next_one().press(admin, buttons(calls)["➕ New subcategory"])
    calls = await next_one().send(admin, "Keys")
    calls = await next_one().press(admin, buttons(calls)["➕ New product"])
    await next_one().send(admin, "Chess Pro")
    await next_one().send(admin, "Opening book")
    calls = await next_one().send(admin, "12.50")
    calls = await next_one().press(admin, buttons(calls)["physical"])
    assert "Product created." in texts(calls)
    async with sessions() as s:
        product, price_minor = (
            await s.execute(
                select(Product, Variant.price_minor)
                .join(Variant, Variant.product_id == Product.id)
                .where(Product.name == "Chess Pro")
            )
        ).one()
    assert (product.description, price_minor) == ("Opening book", 1250)
    assert await redis_storage.get_state(StorageKey(bot.id, admin.id, admin.id)) is None  # the dialog is over


# -- two real processes ------------------------------------------------------------------------------


def needs_postgres_and_redis() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        missing("TEST_DATABASE_URL is not set")
    if not REDIS_URL:
        missing("TEST_REDIS_URL is not set")


class Instance:
    """One `python -m bot` in webhook mode: Telegram's POSTs are ours to make (through the double, which
    performs the call a response carries)."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log
        found = re.search(r"processing server on http://[^:]+:(\d+)", log.read_text())
        assert found, log.read_text()[-2000:]
        self.base = f"http://127.0.0.1:{found[1]}"

    async def deliver(self, tg: TelegramDouble, update: dict[str, Any]) -> None:
        assert await tg.post_update(f"{self.base}/telegram/webhook", update, TG_SECRET) == 200

    async def leader(self) -> bool:
        async with aiohttp.ClientSession() as http, http.get(f"{self.base}/healthz") as response:
            return bool((await response.json())["observer"]["leader"])


@asynccontextmanager
async def instances(
    tmp_path: Path, env: dict[str, str], count: int = 2, before_next: Callable[[Instance], Any] | None = None
) -> AsyncIterator[list[Instance]]:
    async with AsyncExitStack() as stack:
        running: list[Instance] = []
        for n in range(count):
            log = tmp_path / f"bot-{n}.log"
            proc = await stack.enter_async_context(bot_process(env, log))
            running.append(Instance(proc, log))
            if before_next is not None:
                await before_next(running[-1])
        yield running


def shop_env(tg: TelegramDouble, db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **tg.env(),
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "TELEGRAM_WEBHOOK_URL": "https://shop.example",
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "ADMIN_IDS": str(ADMIN_ID),
        "WALLET_KEY": WALLET_KEY,
        "SOL_KEY_FILE": str(tmp_path / "no-sol.key"),
        "RATES_FIXED": ",".join(f"{c.upper()}={r}" for c, r in RATES.items()),
    }


@pytest.mark.scale
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_webhook_instances_share_one_conversation(tmp_path: Path, engine: AsyncEngine, db_url: str) -> None:
    needs_postgres_and_redis()
    async with TelegramDouble() as tg, instances(tmp_path, shop_env(tg, db_url, tmp_path)) as (a, b):
        turn = iter(range(1000))

        async def say(user: FakeUser, update: dict[str, Any]) -> dict[str, Any]:
            await (a, b)[next(turn) % 2].deliver(tg, update)
            return await tg.next_sent(user.id, timeout=WAIT)

        admin = FakeUser(id=ADMIN_ID, first_name="Ada")
        menu = await say(admin, await tg.user_sends_text(admin, "/admin"))

        async def press(user: FakeUser, message: dict[str, Any], label: str) -> dict[str, Any]:
            return await say(user, await tg.user_presses(user, message, find_button(message, text=label)))

        async def send(user: FakeUser, words: str) -> dict[str, Any]:
            return await say(user, await tg.user_sends_text(user, words))

        page = await press(admin, menu, "🗃 Inventory")
        prompt = await press(admin, page, "➕ New category")
        assert prompt["text"] == "Send the name of the new category."
        page = await send(admin, "Games")
        await press(admin, page, "➕ New subcategory")
        page = await send(admin, "Keys")
        await press(admin, page, "➕ New product")
        await send(admin, "Chess Pro")
        await send(admin, "Opening book")
        kind = await send(admin, "12.50")
        card = await press(admin, kind, "physical")
        assert card["text"].startswith("Chess Pro · physical · active"), card

        buyer = FakeUser(id=uuid.uuid4().int % 10**9 + 10**9, first_name="Bea")
        await say(buyer, await tg.user_sends_text(buyer, "/start"))
        menu = await tg.next_sent(buyer.id, timeout=WAIT)
        ask = await press(buyer, menu, "🔎 Search")
        assert ask["text"].startswith("🔎 Type part of a product's name")
        found = await send(buyer, "chess")  # answered by the instance that did not ask
        assert any(b["text"].startswith("Chess Pro") for row in found["reply_markup"]["inline_keyboard"] for b in row)
        assert next(turn) == 14  # fourteen updates, to a and b in turn
    for instance in (a, b):
        assert "Traceback" not in instance.log.read_text()


@pytest.mark.scale
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_observer_lease_passes_to_the_survivor_and_nothing_is_credited_twice(
    tmp_path: Path, engine: AsyncEngine, sessions, db_url: str, goods
) -> None:
    needs_postgres_and_redis()
    settings = Settings(_env_file=None, database_url=db_url, btc_xpub=BTC_ZPUB, rates_fixed=RATES)
    product = await seed_product(sessions, units=4, goods=goods)
    first, second = [await place_order(settings, sessions, 8100 + n, product, 1, Chain.btc) for n in range(2)]
    esplora = EsploraDouble()
    await esplora.start()
    try:
        async with TelegramDouble() as tg:
            env = {
                **shop_env(tg, db_url, tmp_path),
                "BTC_XPUB": BTC_ZPUB,
                "BTC_ESPLORA_URL": esplora.url,
                "BTC_CONFIRMATIONS": "1",
                "OBSERVER_INTERVAL_SECONDS": "1",
            }

            async def leads_before_the_next_starts(instance: Instance) -> None:
                if instance.log.name == "bot-0.log":
                    await until(instance.leader, WAIT)

            async with instances(tmp_path, env, before_next=leads_before_the_next_starts) as (leader, other):
                assert await leader.leader() and not await other.leader()
                esplora.pay(first.address, first.amount_due)
                esplora.mine(1)
                await until(lambda: status_is(engine, first.order_id, OrderStatus.paid), WAIT)

                leader.proc.kill()  # SIGKILL: its lease stays in the database until it runs out
                await leader.proc.wait()
                killed = time.monotonic()
                esplora.pay(second.address, second.amount_due)
                esplora.mine(1)
                await until(lambda: status_is(engine, second.order_id, OrderStatus.paid), LEASE_SECONDS + WAIT)
                taken_over = time.monotonic() - killed
                assert await other.leader()
                assert taken_over <= LEASE_SECONDS + 10, taken_over  # the lease's end, then one cycle
                await until(lambda: outbox_drained(engine), WAIT)
    finally:
        await esplora.stop()
    async with engine.connect() as conn:
        broken = {name: (await conn.execute(text(sql))).scalar() for name, sql in INVARIANTS.items()}
        payments = (await conn.execute(text("SELECT count(*) FROM payments"))).scalar()
    assert broken == dict.fromkeys(INVARIANTS, 0)
    assert payments == 2


async def until(check: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.5)


async def status_is(engine: AsyncEngine, order_id: int, status: OrderStatus) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(Order.status).where(Order.id == order_id))).scalar_one() is status


async def outbox_drained(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return not (await conn.execute(text("SELECT count(*) FROM outbox WHERE status = 'pending'"))).scalar()
