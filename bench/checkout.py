"""Checkouts per second through the real CheckoutService, beside raw single-row write transactions.

Each checkout (hold the unit, take a derivation index, derive the address, write order, invoice and
admin notice, empty the cart) runs in its own task and session, `--concurrency` at a time. The reference
is `UPDATE derivation_counters SET next_index = next_index + 1` in a transaction of its own, as many
times at the same concurrency on the same engine: the cheapest write transaction that database offers.
Latency is per call, so it includes waiting for the engine's connection pool, as in the bot. One more
checkout afterwards, on its own, counts the SQL statements and transactions a checkout sends. Then
`--solo` more checkouts run one at a time, beside as many raw writes, for this process's CPU per call (all
its threads: the SQLite driver's too; not the PostgreSQL server's): what limits the rate on SQLite, and a
steadier figure than the rate on a shared machine.

Run: .venv/bin/python -m bench checkout [--buyers N] [--concurrency C]
PostgreSQL too when BENCH_DATABASE_URL or TEST_DATABASE_URL is set (a database of our own is made on
that server and dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    Row,
    env_int,
    percentile,
    postgres_admin_url,
    postgres_database,
    print_rows,
    seed_buyers,
    seed_catalog,
    shop_settings,
    sqlite_url,
)
from config import Settings
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from models.orders import DerivationCounter
from models.shop import CartItem
from services.payments.rates import rate_service_from_settings
from services.shop.checkout import CheckoutService
from services.wallet.merchant import load_wallet

CHAINS = (Chain.btc, Chain.ltc, Chain.eth)
RAW_WRITE = text("UPDATE derivation_counters SET next_index = next_index + 1 WHERE chain = :chain")


async def timed_calls(
    count: int, concurrency: int, call: Callable[[int], Awaitable[object]]
) -> tuple[float, list[float]]:
    """Run call(0..count-1) with `concurrency` workers; (wall seconds, latency of each call in seconds)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            started = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


@dataclass
class Counted:
    statements: int = 0  # BEGIN and COMMIT not counted
    transactions: int = 0


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[Counted]:
    """Count what the engine sends while the block runs."""
    counted = Counted()

    def statement(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if not sql.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is sent as a statement (models.database)
            counted.statements += 1

    def transaction(*_: object) -> None:
        counted.transactions += 1

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(engine.sync_engine, "begin", transaction)
    try:
        yield counted
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statement)
        event.remove(engine.sync_engine, "begin", transaction)


async def cpu_per_call(count: int, call: Callable[[int], Awaitable[object]]) -> float:
    """This process's CPU seconds per call of call(0..count-1), one at a time."""
    started = time.process_time()
    for n in range(count):
        await call(n)
    return (time.process_time() - started) / max(count, 1)


async def measure(settings: Settings, buyers: int, concurrency: int, solo: int) -> list[Row]:
    engine = create_engine(settings.database_url)
    sessions = create_sessionmaker(engine)
    try:
        catalog = await seed_catalog(sessions, units=buyers + 1 + solo)
        # the buyers at once, then the one counted, then the solo ones
        users = await seed_buyers(sessions, buyers + 1 + solo, first_telegram_id=10_000)
        async with sessions.begin() as s:
            await s.execute(
                insert(CartItem),
                [
                    {"user_id": u, "product_id": catalog.product_id, "variant_id": catalog.variant_id, "quantity": 1}
                    for u in users
                ],
            )
            await s.execute(insert(DerivationCounter).values(chain=Chain.sol, next_index=0))
        wallet, rates = load_wallet(settings), rate_service_from_settings(settings)

        async def checkout(n: int) -> None:
            async with sessions() as s:
                result = await CheckoutService(s, settings, wallet, rates).checkout(users[n], CHAINS[n % len(CHAINS)])
            if result.existing:  # every buyer has one cart and no open order: anything else is a broken setup
                raise RuntimeError(f"buyer {n} got an existing order back")

        async def raw_write(_: int) -> None:
            async with engine.begin() as conn:
                await conn.execute(RAW_WRITE, {"chain": Chain.sol.value})

        await timed_calls(concurrency, concurrency, raw_write)  # warm the pool's connections
        raw_seconds, raw_latency = await timed_calls(buyers, concurrency, raw_write)
        seconds, latency = await timed_calls(buyers, concurrency, checkout)
        with counting(engine) as counted:
            await checkout(buyers)
        solo_cpu = await cpu_per_call(solo, lambda n: checkout(buyers + 1 + n))
        raw_cpu = await cpu_per_call(solo, raw_write)
        await rates.close()
    finally:
        await engine.dispose()
    db = engine.dialect.name
    reference = f"raw 1-row write tx ({db})"
    return [
        Row(f"SQL statements per checkout ({db})", counted.statements, "", "transactions", counted.transactions),
        Row(
            f"checkouts/s ({db}, {concurrency} buyers)",
            buyers / seconds,
            "per second",
            f"{reference}/s",
            buyers / raw_seconds,
        ),
        Row(
            f"checkout p50 latency ({db})",
            percentile(latency, 50) * 1e3,
            "ms",
            f"{reference} p50",
            percentile(raw_latency, 50) * 1e3,
        ),
        Row(
            f"checkout p99 latency ({db})",
            percentile(latency, 99) * 1e3,
            "ms",
            f"{reference} p99",
            percentile(raw_latency, 99) * 1e3,
        ),
        Row(f"checkout CPU, one at a time ({db})", solo_cpu * 1e3, "ms", f"{reference} CPU", raw_cpu * 1e3),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench checkout", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--buyers",
        type=int,
        default=env_int("BENCH_CHECKOUT_BUYERS", 500),
        help="checkouts (and raw writes) per database",
    )
    parser.add_argument("--concurrency", type=int, default=env_int("BENCH_CHECKOUT_CONCURRENCY", 50))
    parser.add_argument(
        "--solo",
        type=int,
        default=env_int("BENCH_CHECKOUT_SOLO", 200),
        help="checkouts (and raw writes) one at a time, for the CPU per call",
    )
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp:
        sol_key = Path(tmp) / "no-sol.key"
        rows += asyncio.run(
            measure(shop_settings(sqlite_url(Path(tmp)), sol_key), args.buyers, args.concurrency, args.solo)
        )
        if admin_url := postgres_admin_url():
            with postgres_database(admin_url) as url:
                rows += asyncio.run(measure(shop_settings(url, sol_key), args.buyers, args.concurrency, args.solo))
        else:
            print("PostgreSQL skipped: set BENCH_DATABASE_URL or TEST_DATABASE_URL")
    return rows


if __name__ == "__main__":
    print_rows(main())
