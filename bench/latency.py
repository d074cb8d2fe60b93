"""Detection latency: from the block with a payment being mined to the buyer's "paid" message being
sent, by polling (the running scheduler's jobs at OBSERVER_INTERVAL_SECONDS, outbox every 2 s) and by
a webhook hint (the same check at once, then the outbox), against the Esplora double."""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aiogram.methods import SendMessage
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bench.common import Row, env_int, seed_catalog, shop_settings, sqlite_url
from models.database import create_engine, create_sessionmaker, upgrade_database
from models.enums import Chain
from processing.chains.esplora import EsploraBackend
from processing.observer import schedule
from services.goods import GoodsCipher
from tests.doubles.esplora import EsploraDouble
from tests.keys import WALLET_KEY
from tests.payflow import Shop, place_order


async def measure(tmp: Path, url: str, samples: int, interval: int) -> tuple[list[float], list[float]]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    settings = shop_settings(url, tmp / "none.key").model_copy(
        update={"btc_confirmations": 1, "observer_interval_seconds": interval})
    goods = GoodsCipher(WALLET_KEY)
    esplora = EsploraDouble()
    await esplora.start()
    backend = EsploraBackend(Chain.btc, esplora.url, 10)
    shop = Shop.build(settings, sessions, goods, Chain.btc, backend)
    catalog = await seed_catalog(sessions, 2 * samples, goods)

    async def paid_message_after(buyer: int, started: float) -> float:
        while not any(isinstance(c, SendMessage) and c.chat_id == buyer and "is paid" in c.text  # noqa: ASYNC110
                      for c in shop.telegram.calls):  # the recording session has no event to wait on
            await asyncio.sleep(0.01)
        return time.perf_counter() - started

    async def pay(buyer: int) -> tuple[str, float]:
        invoice = await place_order(settings, sessions, buyer, catalog.product_id, 1, Chain.btc)
        esplora.pay(invoice.address, invoice.amount_due)
        esplora.mine(1)
        return invoice.address, time.perf_counter()

    hinted = []
    for n in range(samples):  # webhook: the hint arrives as the block does
        address, started = await pay(20_000 + n)
        await shop.observer.check_address(Chain.btc, address)
        await shop.sender.send_due()
        hinted.append(await paid_message_after(20_000 + n, started))

    scheduler = AsyncIOScheduler(timezone="UTC")
    schedule(scheduler, shop.observer, shop.sender, interval)
    scheduler.start()
    polled = []
    for n in range(samples):  # polling: blocks land at arbitrary moments of the cycle
        await asyncio.sleep(interval * (n % 5) / 5)
        _, started = await pay(30_000 + n)
        polled.append(await paid_message_after(30_000 + n, started))
    scheduler.shutdown(wait=False)
    await backend.close()
    await esplora.stop()
    await engine.dispose()
    return polled, hinted


def main(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__)
    parser.add_argument("--samples", type=int, default=env_int("BENCH_LATENCY_SAMPLES", 10))
    parser.add_argument("--interval", type=int, default=env_int("BENCH_LATENCY_INTERVAL", 5),
                        help="OBSERVER_INTERVAL_SECONDS for the polling half (default 5; the shop's default is 30)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp))
        upgrade_database(url)
        polled, hinted = asyncio.run(measure(Path(tmp), url, args.samples, args.interval))
    return [Row(f"polling every {args.interval} s: block → paid message, median", statistics.median(polled), "s",
                "webhook hint: block → paid message, median", statistics.median(hinted)),
            Row(f"polling every {args.interval} s: block → paid message, max", max(polled), "s",
                "webhook hint: block → paid message, max", max(hinted))]
