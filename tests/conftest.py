"""Fixtures: a migrated database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set) and the real
Dispatcher wired exactly as `python -m bot` wires it, talking to a recording Bot API session; Redis
(TEST_REDIS_URL) for the rate limits that several instances share."""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import hypothesis
import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import Settings
from l10n import Translator
from models.database import create_engine, create_sessionmaker, upgrade_database
from models.enums import Chain
from models.schema import metadata
from processing.observer import Observer
from repositories.stock import StockRepo
from services.payments.rates import rate_service_from_settings
from services.ratelimit import RedisRateLimits
from services.wallet.goods import GoodsCipher
from services.wallet.hdwallet import SolAccountNode
from services.wallet.merchant import Wallet, load_wallet
from services.wallet.secretbox import write_sol_key_file
from tests.keys import BTC_ZPUB, ETH_XPUB, LTC_ZPUB, MNEMONIC, WALLET_KEY
from tests.nodes import missing
from tests.recording import RecordingSession
from tests.telegram import Telegram

# Property tests check results, never speed: a busy CI machine must not fail one on its timing.
hypothesis.settings.register_profile("shop", deadline=None)
hypothesis.settings.load_profile("shop")

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
TOKEN = "123456:TEST-token-that-is-long-enough-for-aiogram"
ADMIN_ID = 900_000_001
# Tests press buttons far faster than a person: no throttle, and every "check now" asks the chain. Both
# limits have tests of their own (test_throttle.py, test_check_now.py).
UNTHROTTLED = 100_000  # THROTTLE_BURST


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "shop.db"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    """A database of this test run's own on the TEST_DATABASE_URL server, so parallel runs never collide."""
    name = f"shop_test_{os.getpid()}"
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    upgrade_database(url)
    yield url
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(*statements: str) -> None:
    engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database for each test, on each backend. On PostgreSQL it is the run's one database,
    emptied by `engine`: a test that takes only the URL may find an earlier test's rows."""
    if request.param == "sqlite":
        path = tmp_path / "shop.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        if not PG_URL:
            pytest.skip("TEST_DATABASE_URL is not set")
        yield request.getfixturevalue("pg_migrated")


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    if engine.dialect.name == "postgresql":
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    sessions = create_sessionmaker(engine)
    revision = await _revision(sessions)
    yield sessions
    if await _revision(sessions) == revision:  # a migration test may leave its database at another revision
        async with sessions() as s:  # whatever a test did, every variant's counter still counts its available units
            assert await StockRepo(s).miscounted() == []


async def _revision(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    async with sessions() as s:
        return (await s.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()


RATES = {Chain.btc: Decimal(60000), Chain.ltc: Decimal(80), Chain.eth: Decimal(3000), Chain.sol: Decimal(150)}


@pytest.fixture(scope="session")
def sol_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wallet") / "sol.key"
    write_sol_key_file(path, SolAccountNode.from_mnemonic(MNEMONIC), WALLET_KEY)
    return path


@pytest.fixture
def settings(db_url: str, sol_key_file: Path) -> Settings:
    """A mainnet shop with all four chains and fixed rates; tests replace fields with model_copy."""
    return Settings(
        _env_file=None,
        bot_token=TOKEN,
        database_url=db_url,
        admin_ids=frozenset({ADMIN_ID}),
        btc_xpub=BTC_ZPUB,
        ltc_xpub=LTC_ZPUB,
        eth_xpub=ETH_XPUB,
        sol_key_file=sol_key_file,
        wallet_key=WALLET_KEY,
        rates_fixed=RATES,
        throttle_burst=UNTHROTTLED,
        check_now_seconds=0,
    )


@pytest.fixture(scope="session")
def wallet(sol_key_file: Path) -> Wallet:
    return load_wallet(
        Settings(
            _env_file=None,
            btc_xpub=BTC_ZPUB,
            ltc_xpub=LTC_ZPUB,
            eth_xpub=ETH_XPUB,
            sol_key_file=sol_key_file,
            wallet_key=WALLET_KEY,
        )
    )


@pytest.fixture(scope="session")
def goods() -> GoodsCipher:
    return GoodsCipher(WALLET_KEY)


@pytest.fixture
def container(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], wallet: Wallet, goods: GoodsCipher
) -> Container:
    return Container(
        settings=settings,
        sessions=sessions,
        translator=Translator(),
        wallet=wallet,
        rates=rate_service_from_settings(settings),
        goods=goods,
        observer=Observer(sessions, settings, backends={}),
    )


@pytest.fixture
async def tg(container: Container) -> AsyncIterator[Telegram]:
    session = RecordingSession()
    bot = create_bot(container.settings, session)
    dp = create_dispatcher(container, MemoryStorage())
    yield Telegram(dp=dp, bot=bot, session=session)


class Clock:
    """A monotonic clock the test moves by hand (`clock.now += 30`), for MemoryRateLimits."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def redis_limits() -> AsyncIterator[RedisRateLimits]:
    """Rate limits in the TEST_REDIS_URL server, under a prefix of this test's own (other runs share the
    server); skipped without it, failed in CI (SHOP_REQUIRE_NODES=1)."""
    if not REDIS_URL:
        missing("TEST_REDIS_URL is not set")
    redis = Redis.from_url(REDIS_URL)
    prefix = f"test-{uuid.uuid4().hex}:"
    yield RedisRateLimits(redis, prefix)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
