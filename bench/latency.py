"""Detection latency: from the block with a payment being mined to the buyer's "paid" message being
sent, by polling (the running scheduler's jobs at OBSERVER_INTERVAL_SECONDS, outbox every 2 s) and by
a webhook hint (the same check at once, then the outbox). `--chain btc` runs against the Esplora
double, `--chain ltc` against a real litecoind in regtest (core-rpc backend, watch-only wallet)."""

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram.methods import SendMessage
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bench.common import Row, env_int, seed_catalog, shop_settings, sqlite_url
from models.database import create_engine, create_sessionmaker, upgrade_database
from models.enums import Chain, Network
from processing.chains.base import ChainBackend
from processing.chains.core_rpc import CoreRpcBackend
from processing.chains.esplora import EsploraBackend
from processing.observer import schedule
from services.money import to_coins
from services.wallet.goods import GoodsCipher
from tests.doubles.esplora import EsploraDouble
from tests.keys import LTC_TTUB, WALLET_KEY
from tests.nodes import Litecoind
from tests.payflow import Shop, fresh_addresses, place_order


@dataclass
class Node:
    chain: Chain
    settings: dict[str, Any]  # what the shop's settings need for this node
    backend: ChainBackend
    pay_and_mine: Callable[[str, int], Awaitable[None]]  # pay the address this many base units, mine a block


@asynccontextmanager
async def esplora_btc(_tmp: Path) -> AsyncIterator[Node]:
    esplora = EsploraDouble()
    await esplora.start()
    backend = EsploraBackend(Chain.btc, esplora.url, 10)

    async def pay_and_mine(address: str, amount: int) -> None:
        esplora.pay(address, amount)
        esplora.mine(1)

    try:
        yield Node(Chain.btc, {"btc_confirmations": 1}, backend, pay_and_mine)
    finally:
        await backend.close()
        await esplora.stop()


@asynccontextmanager
async def litecoind_ltc(tmp: Path) -> AsyncIterator[Node]:
    binary = shutil.which("litecoind")
    if binary is None:
        raise SystemExit("bench latency --chain ltc needs litecoind (Debian package `litecoind`)")
    datadir = tmp / "litecoind"
    datadir.mkdir()
    node = Litecoind(binary, datadir)
    backend = CoreRpcBackend(Chain.ltc, f"{node.url}/wallet/shop-{uuid.uuid4().hex[:8]}", 10)

    async def pay_and_mine(address: str, amount: int) -> None:
        await asyncio.to_thread(node.send, address, to_coins(Chain.ltc, amount))
        await asyncio.to_thread(node.mine, 1)

    try:
        await asyncio.to_thread(node.fund)
        yield Node(
            Chain.ltc,
            {"network": Network.regtest, "ltc_xpub": LTC_TTUB, "btc_xpub": "", "eth_xpub": "", "ltc_confirmations": 1},
            backend,
            pay_and_mine,
        )
    finally:
        await backend.close()
        await asyncio.to_thread(node.stop)


NODES = {"btc": esplora_btc, "ltc": litecoind_ltc}


async def measure(tmp: Path, url: str, node: Node, samples: int, interval: int) -> tuple[list[float], list[float]]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    settings = shop_settings(url, tmp / "none.key").model_copy(
        update={**node.settings, "observer_interval_seconds": interval}
    )
    goods = GoodsCipher(WALLET_KEY)
    shop = Shop.build(settings, sessions, goods, node.chain, node.backend)
    catalog = await seed_catalog(sessions, 2 * samples, goods)
    await fresh_addresses(sessions, node.chain)

    async def paid_message_after(buyer: int, started: float) -> float:
        def paid() -> bool:
            return any(
                isinstance(c, SendMessage) and c.chat_id == buyer and "is paid" in c.text for c in shop.telegram.calls
            )

        while not paid():  # noqa: ASYNC110 (the recording session has no event to wait on)
            await asyncio.sleep(0.01)
        return time.perf_counter() - started

    async def pay(buyer: int) -> tuple[str, float]:
        """Check out as the bot does (the address is watched before it is shown), pay, mine a block."""
        invoice = await place_order(settings, sessions, buyer, catalog.product_id, 1, node.chain)
        await shop.observer.watch_invoice(node.chain, invoice.address)
        await node.pay_and_mine(invoice.address, invoice.amount_due)
        return invoice.address, time.perf_counter()

    hinted = []
    for n in range(samples):  # webhook: the hint arrives as the block does
        address, started = await pay(20_000 + n)
        await shop.observer.check_address(node.chain, address)
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
    await engine.dispose()
    return polled, hinted


async def run(tmp: Path, url: str, chain: str, samples: int, interval: int) -> tuple[list[float], list[float]]:
    async with NODES[chain](tmp) as node:
        return await measure(tmp, url, node, samples, interval)


def main(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__)
    parser.add_argument("--samples", type=int, default=env_int("BENCH_LATENCY_SAMPLES", 10))
    parser.add_argument(
        "--interval",
        type=int,
        default=env_int("BENCH_LATENCY_INTERVAL", 5),
        help="OBSERVER_INTERVAL_SECONDS for the polling half (default 5; the shop's default is 30)",
    )
    parser.add_argument(
        "--chain",
        choices=sorted(NODES),
        default="btc",
        help="btc: the Esplora double (default); ltc: a real litecoind in regtest",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = sqlite_url(Path(tmp))
        upgrade_database(url)
        polled, hinted = asyncio.run(run(Path(tmp), url, args.chain, args.samples, args.interval))
    where = "Esplora double" if args.chain == "btc" else "litecoind regtest"
    return [
        Row(
            f"{where}, polling every {args.interval} s: block → paid message, median",
            statistics.median(polled),
            "s",
            "webhook hint: block → paid message, median",
            statistics.median(hinted),
        ),
        Row(
            f"{where}, polling every {args.interval} s: block → paid message, max",
            max(polled),
            "s",
            "webhook hint: block → paid message, max",
            max(hinted),
        ),
    ]
