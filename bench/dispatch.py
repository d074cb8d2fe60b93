"""Updates per second through the real Dispatcher, beside aiogram dispatching to handlers that do nothing.

Each buyer walks /start → Shop → category → subcategory → product → add → cart → checkout → pay
(9 updates) through `create_dispatcher` with the real middlewares, on a seeded SQLite shop, the bot
talking to a recording Bot API session. Walks of different buyers run `--concurrency` at a time, as
aiogram's polling handles updates concurrently. The reference feeds the same Telegram-shaped updates
(parsed from the same JSON) to a bare Dispatcher whose one router has no-op handlers.

Run: .venv/bin/python -m bench dispatch [--buyers N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendPhoto
from aiogram.types import CallbackQuery, Message
from sqlalchemy import func, select

from bench.common import Catalog, Row, env_int, print_rows, seed_catalog, shop_settings, sqlite_url
from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import Settings
from handlers.callbacks import MenuAction, MenuCb
from l10n import Translator
from models.database import create_engine, create_sessionmaker
from models.orders import Invoice
from processing.observer import Observer
from services.payments.rates import rate_service_from_settings
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import load_wallet
from tests.keys import WALLET_KEY
from tests.recording import RecordingSession
from tests.telegram import Person, Telegram, buttons

FIRST_BUYER = 500_000
PAY_WITH = ("BTC", "LTC", "ETH")


async def walk_data(tg: Telegram, probe: Person) -> tuple[list[str], list[str]]:
    """The callback data of the walk's seven presses up to checkout and of the pay buttons, found by
    pressing what a buyer sees. They name catalog ids only, so every buyer presses the same."""
    await tg.send(probe, "/start")
    presses = [MenuCb(action=MenuAction.shop).pack()]
    calls = await tg.press(probe, presses[0])
    for label in ("Software", "Licences", "Editor Pro 1y", "🛒 Add 1 to cart", "🛒 Cart", "💳 Checkout"):
        presses.append(buttons(calls)[label])
        calls = await tg.press(probe, presses[-1])
    pays = [buttons(calls)[chain] for chain in PAY_WITH]
    if not any(isinstance(c, SendPhoto) for c in await tg.press(probe, pays[0])):
        raise RuntimeError("the probe walk did not end with an invoice")
    return presses, pays


async def walk(tg: Telegram, buyer: Person, presses: list[str], pay: str) -> None:
    await tg.send(buyer, "/start")
    for data in presses:
        await tg.press(buyer, data)
    await tg.press(buyer, pay)


async def run_walks(
    tg: Telegram, presses: list[str], pays: list[str], buyers: int, concurrency: int
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for every buyer's walk, `concurrency` walks at a time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(buyers):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await walk(tg, Person(id=FIRST_BUYER + n, username=f"buyer{n}"), presses, pays[n % len(pays)])

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, time.process_time() - cpu


def noop_dispatcher() -> Dispatcher:
    router = Router(name="noop")

    @router.message()
    async def on_message(message: Message) -> None:
        pass

    @router.callback_query()
    async def on_callback(query: CallbackQuery) -> None:
        pass

    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def measure(settings: Settings, buyers: int, concurrency: int) -> list[Row]:
    engine = create_engine(settings.database_url)
    sessions = create_sessionmaker(engine)
    goods = GoodsCipher(WALLET_KEY)
    catalog: Catalog = await seed_catalog(sessions, units=buyers + 1, goods=goods)
    container = Container(
        settings=settings,
        sessions=sessions,
        translator=Translator(),
        wallet=load_wallet(settings),
        rates=rate_service_from_settings(settings),
        goods=goods,
        observer=Observer(sessions, settings, backends={}),
    )
    session = RecordingSession()
    bot = create_bot(settings, session)
    shop = Telegram(dp=create_dispatcher(container, MemoryStorage()), bot=bot, session=session)
    presses, pays = await walk_data(shop, Person(id=FIRST_BUYER - 1))
    updates = buyers * (len(presses) + 2)

    seconds, cpu = await run_walks(shop, presses, pays, buyers, concurrency)
    async with sessions() as s:
        invoices = (await s.execute(select(func.count()).select_from(Invoice))).scalar_one()
    if invoices != buyers + 1:  # the probe's invoice and one per buyer: otherwise we measured errors
        raise RuntimeError(f"{invoices - 1} of {buyers} walks ended with an invoice (product {catalog.product_id})")
    noop = Telegram(dp=noop_dispatcher(), bot=bot, session=RecordingSession())
    noop_seconds, noop_cpu = await run_walks(noop, presses, pays, buyers, concurrency)
    await container.rates.close()
    await engine.dispose()
    return [
        Row(
            f"shop updates/s ({concurrency} walks at once)",
            updates / seconds,
            "per second",
            "no-op handler updates/s",
            updates / noop_seconds,
        ),
        Row("shop CPU ms/update", cpu / updates * 1e3, "ms", "no-op handler CPU ms/update", noop_cpu / updates * 1e3),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench dispatch", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--buyers", type=int, default=env_int("BENCH_DISPATCH_BUYERS", 100), help="independent walks (9 updates each)"
    )
    parser.add_argument("--concurrency", type=int, default=env_int("BENCH_DISPATCH_CONCURRENCY", 10))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        settings = shop_settings(sqlite_url(Path(tmp)), Path(tmp) / "no-sol.key")
        return asyncio.run(measure(settings, args.buyers, args.concurrency))


if __name__ == "__main__":
    print_rows(main())
