"""The shop walk through the HTTP Bot API double: CPU per update of a real `python -m bot` beside the
DB-backed floor handler running as a bot process of its own (`bench.floor_bot`), both long-polling a double.

The shop's SQLite file is seeded as `bench dispatch` seeds it (1,000 sealed units of one product). Each bot
polls a double of its own in this process. Buyers walk /start → Shop → category → subcategory → product →
add → cart → checkout → pay (9 updates), `--concurrency` walks at once: the double queues each update, the
bot fetches it with getUpdates and answers over HTTP, and the next update of a walk is queued once the
double has seen the last call of the one before (the shop's callback answer, or its menu after /start; the
floor's one send or edit). The floor gets the same updates: a message, then presses with the walk's
callback data. CPU per update is utime + stime from /proc/<pid>/stat over the walks, divided by the
updates: the bots' own work, HTTP included, and not the double's. The rounds alternate shop, floor, floor,
shop, so that a change in the machine's load meets both. A probe walk first warms each bot up and finds
the walk's callback data by pressing what a buyer sees.

A second floor bot also answers each press (answerCallbackQuery), as Telegram asks of every bot and the
shop does: its ratio to the floor is the least any bot that answers its presses can reach over HTTP, a
shop whose screens cost no more than the floor's one read.

A third process, the shop in Telegram webhook mode (the double POSTs each update to it and performs the
call carried in the response, `bot.replies`), walks the same way beside the polling shop.

Both shops run the event-loop probe (LOOP_LAG_PROBE_MS=5, a wake-up every 5 ms: little CPU, and the 20 ms
goal is coarser) and their longest stall counting only the bot's own CPU is read from /metrics at the end:
the stall a buyer waits behind while the bot serves over real HTTP.

Run: .venv/bin/python -m bench http [--buyers N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.common import RATES, Catalog, Row, env_int, print_rows, seed_catalog, sqlite_url
from bench.dispatch import PAY_WITH, SMALL_SHOP_UNITS
from bench.memory import longest_stalls_ms
from handlers.callbacks import MenuAction, MenuCb
from models.database import create_engine, create_sessionmaker
from services.wallet.goods import GoodsCipher
from tests.doubles.telegram import FakeUser, Json, TelegramDouble, buttons
from tests.keys import BTC_ZPUB, ETH_XPUB, LTC_ZPUB, WALLET_KEY
from tests.process import bot_process, free_port, module_process

FIRST_BUYER = 600_000
WAIT = 60  # seconds an update may take on a loaded machine
WALK_LABELS = ("Software", "Licences", "Editor Pro 1y", "🛒 Add 1 to cart", "🛒 Cart", "💳 Checkout")
TG_SECRET = "bench-http-secret"
NOWHERE = "http://127.0.0.1:9"  # the discard port: connection refused at once
Deliver = Callable[[Json], Awaitable[None]]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/<pid>/stat (fields 14 and 15, after the command name)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Bot:
    """A bot process behind its own double; `answers` bots end a press with its callback answer."""

    tg: TelegramDouble
    pid: int
    answers: bool
    deliver: Deliver
    cpu: float = 0.0
    updates: int = 0
    requests: int = 0

    async def step(self, update: Json) -> None:
        """Queue (or POST) the update and wait until the bot has made its last call for it."""
        chat = (update.get("message") or update["callback_query"]["message"])["chat"]["id"]
        before = len(self.tg.sent_to(chat))

        def handled() -> bool:
            if self.answers and "callback_query" in update:
                return self.tg.callback_answer(update) is not None
            sent = self.tg.sent_to(chat)
            return len(sent) > before and (not self.answers or "reply_markup" in sent[-1])  # the shop: its menu

        await self.deliver(update)
        await self.tg.wait_for(handled, timeout=WAIT)

    async def walk(self, buyer: FakeUser, presses: list[str]) -> None:
        await self.step(await self.tg.user_sends_text(buyer, "/start"))
        screen = self.tg.sent_to(buyer.id)[-1]
        for data in presses:
            await self.step(await self.tg.user_presses(buyer, screen, data, strict=False))


async def probe(bot: Bot) -> tuple[list[str], list[str]]:
    """The callback data of the walk's presses up to checkout and of the pay buttons (as `bench dispatch`),
    found by pressing what a buyer sees; they name catalog ids only, so every buyer presses the same."""
    buyer = FakeUser(id=FIRST_BUYER - 1, first_name="Probe")
    await bot.step(await bot.tg.user_sends_text(buyer, "/start"))
    screen = bot.tg.sent_to(buyer.id)[-1]
    presses = [MenuCb(action=MenuAction.shop).pack()]
    await bot.step(await bot.tg.user_presses(buyer, screen, presses[0]))
    for label in WALK_LABELS:
        presses.append(next(b["callback_data"] for b in shown(bot, screen) if b["text"].startswith(label)))
        await bot.step(await bot.tg.user_presses(buyer, screen, presses[-1]))
    pays = [next(b["callback_data"] for b in shown(bot, screen) if b["text"] == chain) for chain in PAY_WITH]
    await bot.step(await bot.tg.user_presses(buyer, screen, pays[0]))
    if "photo" not in bot.tg.sent_to(buyer.id)[-1]:
        raise RuntimeError("the probe walk did not end with an invoice")
    return presses, pays


def shown(bot: Bot, message: Json) -> list[Json]:
    """The buttons of the message as it is now."""
    return buttons(bot.tg.message(message["chat"]["id"], message["message_id"]) or {})


async def run_round(bot: Bot, presses: list[str], pays: list[str], first: int, buyers: int, concurrency: int) -> None:
    """`buyers` walks, `concurrency` at a time, paying in BTC, LTC and ETH in turn; the bot's CPU and Bot API
    requests are added to its totals."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(first, first + buyers):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await bot.walk(FakeUser(id=FIRST_BUYER + n, first_name=f"Buyer{n}"), [*presses, pays[n % len(pays)]])

    calls, cpu = len(bot.tg.calls), cpu_seconds(bot.pid)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    bot.cpu += cpu_seconds(bot.pid) - cpu
    bot.updates += buyers * (len(presses) + 2)
    bot.requests += sum(1 for c in bot.tg.calls[calls:] if c.method != "getUpdates")


def shop_env(tg: TelegramDouble, url: str, tmp: Path) -> dict[str, str]:
    """BTC, LTC and ETH from the test keys and fixed rates, as `bench dispatch`'s shop. Observer cycles run
    at start only, when there is nothing to watch, against a closed port; no admins, so a checkout queues
    no notice to send."""
    return {
        **dict.fromkeys(("BTC_ESPLORA_URL", "LTC_ESPLORA_URL", "ETH_RPC_URL"), NOWHERE),
        **tg.env(),
        "DATABASE_URL": url,
        "BTC_XPUB": BTC_ZPUB,
        "LTC_XPUB": LTC_ZPUB,
        "ETH_XPUB": ETH_XPUB,
        "WALLET_KEY": WALLET_KEY,
        "SOL_KEY_FILE": str(tmp / "no-sol.key"),
        "RATES_FIXED": ",".join(f"{chain.upper()}={rate}" for chain, rate in RATES.items()),
        "OBSERVER_INTERVAL_SECONDS": "86400",
        "LOG_LEVEL": "WARNING",
        "LOOP_LAG_PROBE_MS": "5",
        "PROCESSING_PORT": str(free_port()),
    }


async def queued(tg: TelegramDouble) -> Deliver:
    """A polling bot: the update is already queued in the double; wait until the bot polls."""
    await tg.wait_for(lambda: tg.polling, timeout=WAIT)

    async def deliver(update: Json) -> None:
        pass

    return deliver


async def measure(url: str, pushed_url: str, catalog: Catalog, tmp: Path, buyers: int, concurrency: int) -> list[Row]:
    """The polling shop and the floor bot share a database (the floor reads the shop's product); the shop in
    webhook mode has one of its own, seeded the same."""
    async with AsyncExitStack() as stack:
        doubles = [await stack.enter_async_context(TelegramDouble()) for _ in range(4)]
        shop_tg, floor_tg, answering_tg, pushed_tg = doubles
        polling_env = shop_env(shop_tg, url, tmp)
        shop = await stack.enter_async_context(bot_process(polling_env, tmp / "shop.log"))
        floor_env = {"DATABASE_URL": url, "FLOOR_PRODUCT_ID": str(catalog.product_id)}
        floor = await stack.enter_async_context(
            module_process("bench.floor_bot", {**floor_tg.env(), **floor_env}, tmp / "floor.log")
        )
        answering_env = {**answering_tg.env(), **floor_env, "FLOOR_ANSWERS_PRESSES": "1"}
        answering = await stack.enter_async_context(
            module_process("bench.floor_bot", answering_env, tmp / "answering.log")
        )
        pushed_env = {
            **shop_env(pushed_tg, pushed_url, tmp),
            "TELEGRAM_WEBHOOK_URL": "https://shop.example",
            "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        }
        port = int(pushed_env["PROCESSING_PORT"])
        pushed = await stack.enter_async_context(bot_process(pushed_env, tmp / "pushed.log"))

        async def post(update: Json) -> None:
            status = await pushed_tg.post_update(f"http://127.0.0.1:{port}/telegram/webhook", update, TG_SECRET)
            if status != 200:
                raise RuntimeError(f"the webhook answered {status}")

        bots = {
            "shop": Bot(shop_tg, shop.pid, True, await queued(shop_tg)),
            "floor": Bot(floor_tg, floor.pid, False, await queued(floor_tg)),
            "answering": Bot(answering_tg, answering.pid, True, await queued(answering_tg)),
            "pushed": Bot(pushed_tg, pushed.pid, True, post),
        }
        presses, pays = await probe(bots["shop"])
        await probe(bots["pushed"])
        for floor_bot in (bots["floor"], bots["answering"]):
            await floor_bot.walk(FakeUser(id=FIRST_BUYER - 1), [*presses, pays[0]])
        half = buyers // 2
        order = ("shop", "floor", "answering", "pushed")
        for n, name in enumerate((*order, *reversed(order))):
            first = 0 if n < len(order) else half
            await run_round(bots[name], presses, pays, first, buyers - half if first else half, concurrency)
        polling_stall = await longest_stalls_ms(int(polling_env["PROCESSING_PORT"]))
        pushed_stall = await longest_stalls_ms(port)
    shop_bot, floor_bot, answering_bot, pushed_bot = bots["shop"], bots["floor"], bots["answering"], bots["pushed"]

    def ms(bot: Bot) -> float:
        return bot.cpu / bot.updates * 1e3

    return [
        Row(
            "shop walk CPU ms/update over HTTP, polling",
            ms(shop_bot),
            "ms",
            "DB-backed floor bot over HTTP",
            ms(floor_bot),
        ),
        Row(
            "floor bot answering each press, CPU ms/update",
            ms(answering_bot),
            "ms",
            "DB-backed floor bot over HTTP",
            ms(floor_bot),
        ),
        Row(
            "shop walk CPU ms/update, Telegram webhook mode",
            ms(pushed_bot),
            "ms",
            "same, polling",
            ms(shop_bot),
        ),
        Row(
            "longest event-loop stall (bot's CPU), polling shop",
            polling_stall["busy_stall"],
            "ms",
            "same, webhook mode",
            pushed_stall["busy_stall"],
        ),
        Row(
            "Bot API requests/update, webhook mode",
            pushed_bot.requests / pushed_bot.updates,
            "requests",
            "same, polling",
            shop_bot.requests / shop_bot.updates,
        ),
    ]


async def seed(url: str) -> Catalog:
    engine = create_engine(url)
    catalog = await seed_catalog(create_sessionmaker(engine), SMALL_SHOP_UNITS, GoodsCipher(WALLET_KEY))
    await engine.dispose()
    return catalog


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench http", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--buyers", type=int, default=env_int("BENCH_HTTP_BUYERS", 60), help="walks per bot (9 updates each)"
    )
    parser.add_argument("--concurrency", type=int, default=env_int("BENCH_HTTP_CONCURRENCY", 10))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as name:
        tmp = Path(name)
        url, pushed_url = sqlite_url(tmp, "shop.db"), sqlite_url(tmp, "pushed.db")
        catalog = asyncio.run(seed(url))
        asyncio.run(seed(pushed_url))
        started = time.perf_counter()
        rows = asyncio.run(measure(url, pushed_url, catalog, tmp, args.buyers, args.concurrency))
        print(f"walks through the HTTP double in {time.perf_counter() - started:.0f} s")
        return rows


if __name__ == "__main__":
    print_rows(main())
