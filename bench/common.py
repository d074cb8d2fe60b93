"""What the benchmarks share: a migrated database of their own, a shop's settings, bulk seeding, and the
table every benchmark prints (a figure beside a reference measured in the same run, and their ratio)."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from config import Settings
from models.chains import Asset
from models.database import upgrade_database
from models.enums import Chain, ProductKind
from models.orders import Invoice, Order
from models.shop import Category, Product, Subcategory, User, Variant
from models.types import utcnow
from repositories.stock import StockRepo
from services.wallet.goods import GoodsCipher
from tests.keys import BTC_ZPUB, ETH_XPUB, LTC_ZPUB, WALLET_KEY

TOKEN = "123456:BENCH-token-that-is-long-enough-for-aiogram"
ADMIN_ID = 900_000_001
RATES = {Chain.btc: Decimal(60000), Chain.ltc: Decimal(80), Chain.eth: Decimal(3000), Chain.sol: Decimal(150)}
CHUNK = 5_000  # rows per bulk INSERT


@dataclass(frozen=True, slots=True)
class Row:
    """One measured figure beside the reference it is compared with; ratio = figure / reference."""

    name: str
    figure: float
    unit: str
    reference: str
    reference_figure: float

    @property
    def ratio(self) -> float:
        return self.figure / self.reference_figure if self.reference_figure else math.inf


def print_rows(rows: Sequence[Row]) -> None:
    print(f"\n{'figure':<50}{'value':>10} {'unit':<11}{'reference':<40}{'value':>10}{'ratio':>8}")
    for r in rows:
        print(
            f"{r.name:<50}{_num(r.figure):>10} {r.unit:<11}{r.reference:<40}{_num(r.reference_figure):>10}"
            f"{r.ratio:>8.2f}"
        )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average {load}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def env_int(name: str, default: int) -> int:
    """A size from the environment (BENCH_...), for runs through `python -m bench all`."""
    return int(os.environ.get(name, default))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def sqlite_url(directory: Path, name: str = "shop.db") -> str:
    """A fresh SQLite file in `directory`, migrated to head (call outside the event loop)."""
    url = f"sqlite+aiosqlite:///{directory / name}"
    upgrade_database(url)
    return url


def postgres_admin_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL", "")


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A database of this run's own on the admin URL's server (never the one named in it), migrated
    to head and dropped afterwards. Call outside the event loop."""
    name = f"shop_bench_{os.getpid()}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    try:
        upgrade_database(url)
        yield url
    finally:
        asyncio.run(_admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(admin_url: str, *statements: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


def shop_settings(database_url: str, sol_key_file: Path) -> Settings:
    """A mainnet shop with BTC, LTC and ETH from the test keys, fixed rates and one admin."""
    return Settings(
        _env_file=None,
        bot_token=TOKEN,
        database_url=database_url,
        admin_ids=frozenset({ADMIN_ID}),
        btc_xpub=BTC_ZPUB,
        ltc_xpub=LTC_ZPUB,
        eth_xpub=ETH_XPUB,
        sol_key_file=sol_key_file,
        wallet_key=WALLET_KEY,
        rates_fixed=RATES,
    )


@dataclass(frozen=True, slots=True)
class Catalog:
    category_id: int
    subcategory_id: int
    product_id: int
    variant_id: int


async def seed_catalog(
    sessions: async_sessionmaker[AsyncSession], units: int, goods: GoodsCipher | None = None
) -> Catalog:
    """One category, subcategory and digital product ("Editor Pro 1y", 12.50) with `units` units in
    stock; their payloads are sealed when `goods` is given, as the admin import does."""
    async with sessions.begin() as s:
        category = Category(name="Software")
        s.add(category)
        await s.flush()
        sub = Subcategory(category_id=category.id, name="Licences")
        s.add(sub)
        await s.flush()
        product = Product(
            subcategory_id=sub.id,
            name="Editor Pro 1y",
            description="One-year licence key",
            kind=ProductKind.digital,
            variants=[Variant(name="", price_minor=1250)],
        )
        s.add(product)
        await s.flush()
        catalog = Catalog(category.id, sub.id, product.id, product.variants[0].id)
    for start in range(0, units, CHUNK):
        payloads = [f"KEY-{n:08d}" for n in range(start, min(units, start + CHUNK))]
        async with sessions.begin() as s:  # as an import stores them: the variant's counter moves too
            await StockRepo(s).add_units(
                catalog.product_id,
                catalog.variant_id,
                [(goods.seal(p, catalog.product_id), goods.digest(p)) if goods else None for p in payloads],
                utcnow(),
            )
    return catalog


async def seed_buyers(sessions: async_sessionmaker[AsyncSession], count: int, first_telegram_id: int) -> list[int]:
    """`count` registered buyers; their user ids in telegram id order."""
    ids: list[int] = []
    for start in range(0, count, CHUNK):
        batch = range(start, min(count, start + CHUNK))
        rows = [{"telegram_id": first_telegram_id + n, "language": "en"} for n in batch]
        async with sessions.begin() as s:
            result = await s.execute(insert(User).returning(User.id, sort_by_parameter_order=True), rows)
            ids += result.scalars().all()
    return ids


async def seed_open_invoices(
    sessions: async_sessionmaker[AsyncSession],
    chain: Chain,
    addresses: Sequence[str],
    first_telegram_id: int,
    token: Asset | None = None,
) -> None:
    """One buyer, one order awaiting payment (expiring in a day) and one invoice per address, in the chain's
    coin or in `token`."""
    users = await seed_buyers(sessions, len(addresses), first_telegram_id)
    now = utcnow()
    until = now + timedelta(days=1)
    for start in range(0, len(addresses), CHUNK):
        batch = range(start, min(len(addresses), start + CHUNK))
        async with sessions.begin() as s:
            orders = (
                (
                    await s.execute(
                        insert(Order).returning(Order.id, sort_by_parameter_order=True),
                        [
                            {
                                "user_id": users[n],
                                "total_minor": 1250,
                                "fiat_currency": "USD",
                                "created_at": now,
                                "expires_at": until,
                            }
                            for n in batch
                        ],
                    )
                )
                .scalars()
                .all()
            )
            await s.execute(
                insert(Invoice),
                [
                    {
                        "order_id": order,
                        "chain": chain,
                        **({"asset": token.symbol, "token": token.token, "decimals": token.decimals} if token else {}),
                        "derivation_index": n,
                        "address": addresses[n],
                        "amount_due": 20_834,
                        "rate": Decimal(1) if token else RATES[chain],
                        "rate_source": "fixed",
                        "rate_at": now,
                        "expires_at": until,
                        "created_at": now,
                    }
                    for order, n in zip(orders, batch, strict=True)
                ],
            )
