"""CPU per update through the real Dispatcher, beside a minimal DB-backed handler (the floor).

Each buyer walks /start → Shop → category → subcategory → product → add → cart → checkout → pay
(9 updates) through `create_dispatcher` with the real middlewares, on a seeded SQLite shop, the bot
talking to a recording Bot API session. Walks of different buyers run `--concurrency` at a time, as
aiogram's polling handles updates concurrently: first every buyer's eight steps up to the coin buttons,
then every buyer's pay step, so that the pay step is timed on its own.

The reference feeds the same Telegram-shaped updates (parsed the same way) to a bare Dispatcher whose one
router answers each with the floor of a DB-backed handler: one ORM read in a session of its own, a
3-button keyboard and one Bot API call. A second reference, a no-op handler, is aiogram's own dispatch.
The walk runs again on a shop with `--large-units` units (the first has 1,000), to show how the walk's cost
grows with stock. While the walks run, a task sleeping 1 ms at a time records the longest event-loop stall;
then one full `gc.collect()` is timed, the stall the collector can cause at the process's current heap.

Run: .venv/bin/python -m bench dispatch [--buyers N] [--concurrency C] [--large-units N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendPhoto
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import Catalog, Row, env_int, print_rows, seed_catalog, shop_settings, sqlite_url
from bot.app import freeze_startup_heap
from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import Settings
from handlers.callbacks import MenuAction, MenuCb
from l10n import Translator
from models.database import create_engine, create_sessionmaker
from models.orders import Invoice
from models.shop import Product, Variant
from processing.observer import Observer
from services.payments.rates import rate_service_from_settings
from services.shop.users import KnownUsers
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import load_wallet
from tests.keys import WALLET_KEY
from tests.recording import RecordingSession
from tests.telegram import Person, Telegram, buttons

FIRST_BUYER = 500_000
PAY_WITH = ("BTC", "LTC", "ETH")
SMALL_SHOP_UNITS = 1_000
STALL_TICK = 0.001


@dataclass(frozen=True, slots=True)
class Walks:
    """What the walks cost: CPU seconds up to the coin buttons and for the pay step, wall seconds for both,
    and the longest event-loop stall meanwhile."""

    browse_cpu: float
    pay_cpu: float
    seconds: float
    stall: float

    def per_update_ms(self, buyers: int, steps: int) -> float:
        return (self.browse_cpu + self.pay_cpu) / (buyers * steps) * 1e3


class StallWatch:
    """The longest time the event loop took to come back to a task that slept STALL_TICK."""

    def __init__(self) -> None:
        self.longest = 0.0

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        async def tick() -> None:
            while True:
                started = time.perf_counter()
                await asyncio.sleep(STALL_TICK)
                self.longest = max(self.longest, time.perf_counter() - started - STALL_TICK)

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def walk_data(tg: Telegram, probe: Person) -> tuple[list[str], list[str]]:
    """The callback data of the walk's seven presses up to checkout and of the pay buttons, found by
    pressing what a buyer sees. They name catalog ids only, so every buyer presses the same."""
    await tg.send(probe, "/start")
    presses = [MenuCb(action=MenuAction.shop).pack()]
    calls = await tg.press(probe, presses[0])
    for label in ("Software", "Licences", "Editor Pro 1y", "🛒 Add 1 to cart", "🛒 Cart", "💳 Checkout"):
        shown = buttons(calls)
        presses.append(next(data for text, data in shown.items() if text.startswith(label)))  # "… · 12.50 USD"
        calls = await tg.press(probe, presses[-1])
    pays = [buttons(calls)[chain] for chain in PAY_WITH]
    if not any(isinstance(c, SendPhoto) for c in await tg.press(probe, pays[0])):
        raise RuntimeError("the probe walk did not end with an invoice")
    return presses, pays


async def each_buyer(buyers: int, concurrency: int, step: Callable[[int, Person], Awaitable[None]]) -> float:
    """Run `step` for every buyer, `concurrency` at a time; CPU seconds."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(buyers):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await step(n, Person(id=FIRST_BUYER + n, username=f"buyer{n}"))

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - cpu


async def run_walks(tg: Telegram, presses: list[str], pays: list[str], buyers: int, concurrency: int) -> Walks:
    async def browse(_: int, buyer: Person) -> None:
        await tg.send(buyer, "/start")
        for data in presses:
            await tg.press(buyer, data)

    async def pay(n: int, buyer: Person) -> None:
        await tg.press(buyer, pays[n % len(pays)])

    stalls = StallWatch()
    started = time.perf_counter()
    async with stalls.watching():
        browse_cpu = await each_buyer(buyers, concurrency, browse)
        pay_cpu = await each_buyer(buyers, concurrency, pay)
    return Walks(browse_cpu, pay_cpu, time.perf_counter() - started, stalls.longest)


def floor_dispatcher(
    sessions: async_sessionmaker[AsyncSession], product_id: int, answer_presses: bool = False
) -> Dispatcher:
    """The least a DB-backed screen does: read one row in a session of its own, show it with three buttons
    in one Bot API call. The screen names what was sent or pressed, so each press changes the message, as the
    shop's screens do (Telegram refuses an edit to the same text and buttons). With `answer_presses` each
    press is also answered (answerCallbackQuery), as Telegram asks of every bot: clients show a progress bar
    on the button until then."""
    router = Router(name="floor")

    async def screen(shown: str | None) -> tuple[str, InlineKeyboardMarkup]:
        async with sessions() as s:
            name, price_minor = (
                await s.execute(
                    select(Product.name, Variant.price_minor)
                    .join(Variant, Variant.product_id == Product.id)
                    .where(Product.id == product_id)
                )
            ).one()
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=f"{n}", callback_data=f"floor:{n}") for n in range(3)]]
        )
        return f"{name}: {price_minor} · {shown}", markup

    @router.message()
    async def on_message(message: Message) -> None:
        text, markup = await screen(message.text)
        await message.answer(text, reply_markup=markup)

    @router.callback_query()
    async def on_callback(query: CallbackQuery) -> None:
        text, markup = await screen(query.data)
        assert isinstance(query.message, Message)
        await query.message.edit_text(text, reply_markup=markup)
        if answer_presses:
            await query.answer()

    dp = Dispatcher()
    dp.include_router(router)
    return dp


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


class Shop:
    """A seeded SQLite shop behind the real dispatcher."""

    def __init__(self, settings: Settings, units: int) -> None:
        self.settings, self.units = settings, units
        self.engine = create_engine(settings.database_url)
        self.sessions = create_sessionmaker(engine=self.engine)

    async def open(self) -> tuple[Telegram, Catalog]:
        goods = GoodsCipher(WALLET_KEY)
        catalog = await seed_catalog(self.sessions, units=self.units, goods=goods)
        self.container = Container(
            settings=self.settings,
            sessions=self.sessions,
            translator=Translator(),
            wallet=load_wallet(self.settings),
            rates=rate_service_from_settings(self.settings),
            goods=goods,
            observer=Observer(self.sessions, self.settings, backends={}),
        )
        session = RecordingSession()
        bot = create_bot(self.settings, session)
        tg = Telegram(dp=create_dispatcher(self.container, MemoryStorage()), bot=bot, session=session)
        self.unfrozen_collection_ms = full_collection_ms()  # what a full collection cost without the freeze
        freeze_startup_heap()  # as bot.app.run does before serving
        return tg, catalog

    async def invoices(self) -> int:
        async with self.sessions() as s:
            return (await s.execute(select(func.count()).select_from(Invoice))).scalar_one()

    async def close(self) -> None:
        await self.container.rates.close()
        await self.engine.dispose()


@dataclass(frozen=True, slots=True)
class Walked:
    walks: Walks
    tg: Telegram
    catalog: Catalog
    presses: list[str]
    pays: list[str]
    unfrozen_collection_ms: float


async def walk_shop(settings: Settings, units: int, buyers: int, concurrency: int) -> Walked:
    """Seed a shop with `units` units, find the walk's buttons, and walk it; the shop is closed afterwards."""
    shop = Shop(settings, units)
    tg, catalog = await shop.open()
    try:
        presses, pays = await walk_data(tg, Person(id=FIRST_BUYER - 1))
        walks = await run_walks(tg, presses, pays, buyers, concurrency)
        invoices = await shop.invoices()
    finally:
        await shop.close()
    if invoices != buyers + 1:  # the probe's invoice and one per buyer: otherwise we measured errors
        raise RuntimeError(f"{invoices - 1} of {buyers} walks ended with an invoice")
    return Walked(walks, tg, catalog, presses, pays, shop.unfrozen_collection_ms)


async def remembered_users(settings: Settings, rounds: int = 6, buyers: int = 15) -> Row:
    """The walk up to the coin buttons with users remembered (KnownUsers, as when long polling) beside the
    same with every update reading its user (webhook mode), in alternating rounds of new buyers on one shop
    and one process; the medians of the rounds' CPU per update."""
    shop = Shop(settings, units=SMALL_SHOP_UNITS)
    remembering, _ = await shop.open()
    reading_container = dataclasses.replace(shop.container, known_users=KnownUsers(seconds=0))
    reading = Telegram(create_dispatcher(reading_container, MemoryStorage()), remembering.bot, remembering.session)
    presses, _ = await walk_data(remembering, Person(id=FIRST_BUYER - 1))
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for n in range(rounds * 2):
        remember = (n % 2 == 0) == (n // 2 % 2 == 0)  # on, off, off, on, on, off, ...: neither always first
        tg = remembering if remember else reading
        started = time.process_time()
        for b in range(buyers):
            buyer = Person(id=FIRST_BUYER + 10_000 + n * buyers + b)
            await tg.send(buyer, "/start")
            for data in presses:
                await tg.press(buyer, data)
        cpu[remember].append((time.process_time() - started) / (buyers * (len(presses) + 1)) * 1e3)
    await shop.close()
    return Row(
        "walk to checkout CPU ms/update, users remembered",
        statistics.median(cpu[True]),
        "ms",
        "same, the user read on every update",
        statistics.median(cpu[False]),
    )


def full_collection_ms() -> float:
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1e3


async def measure(
    small: Settings, users: Settings, large: Settings | None, buyers: int, concurrency: int, large_units: int
) -> list[Row]:
    shop = await walk_shop(small, max(SMALL_SHOP_UNITS, buyers + 1), buyers, concurrency)
    walks, presses, pays, bot = shop.walks, shop.presses, shop.pays, shop.tg.bot
    steps = len(presses) + 2
    collection = full_collection_ms()
    engine = create_engine(small.database_url)  # the floor reads the same shop's product
    floor_dp = floor_dispatcher(create_sessionmaker(engine), shop.catalog.product_id)
    floor = await run_walks(
        Telegram(dp=floor_dp, bot=bot, session=RecordingSession()), presses, pays, buyers, concurrency
    )
    await engine.dispose()
    noop_tg = Telegram(dp=noop_dispatcher(), bot=bot, session=RecordingSession())
    noop = await run_walks(noop_tg, presses, pays, buyers, concurrency)
    floor_ms = floor.per_update_ms(buyers, steps)
    rows = [
        Row("shop walk CPU ms/update", walks.per_update_ms(buyers, steps), "ms", "DB-backed floor handler", floor_ms),
        Row("pay step CPU ms", walks.pay_cpu / buyers * 1e3, "ms", "DB-backed floor handler", floor_ms),
        Row(
            f"shop updates/s ({concurrency} walks at once)",
            buyers * steps / walks.seconds,
            "per second",
            "DB-backed floor updates/s",
            buyers * steps / floor.seconds,
        ),
        Row(
            "floor handler CPU ms/update",
            floor_ms,
            "ms",
            "no-op handler CPU ms/update",
            noop.per_update_ms(buyers, steps),
        ),
        Row("longest event-loop stall, shop walk", walks.stall * 1e3, "ms", "same, floor handler", floor.stall * 1e3),
        Row(
            "full gc.collect() after the walks",
            collection,
            "ms",
            "same at start-up, before gc.freeze()",
            shop.unfrozen_collection_ms,
        ),
    ]
    rows.append(await remembered_users(users))
    if large is not None:
        big = (await walk_shop(large, large_units, buyers, concurrency)).walks
        rows.append(
            Row(
                f"walk CPU ms/update, {large_units:,} units",
                big.per_update_ms(buyers, steps),
                "ms",
                f"same, {max(SMALL_SHOP_UNITS, buyers + 1):,} units",
                walks.per_update_ms(buyers, steps),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench dispatch", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--buyers", type=int, default=env_int("BENCH_DISPATCH_BUYERS", 100), help="independent walks (9 updates each)"
    )
    parser.add_argument("--concurrency", type=int, default=env_int("BENCH_DISPATCH_CONCURRENCY", 10))
    parser.add_argument(
        "--large-units",
        type=int,
        default=env_int("BENCH_DISPATCH_LARGE_UNITS", 100_000),
        help="stock of the second shop (0: no second shop)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as name:
        tmp = Path(name)
        small = shop_settings(sqlite_url(tmp, "small.db"), tmp / "no-sol.key")
        users = shop_settings(sqlite_url(tmp, "users.db"), tmp / "no-sol.key")
        large = shop_settings(sqlite_url(tmp, "large.db"), tmp / "no-sol.key") if args.large_units else None
        return asyncio.run(measure(small, users, large, args.buyers, args.concurrency, args.large_units))


if __name__ == "__main__":
    print_rows(main())
