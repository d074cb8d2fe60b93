"""Engine and session factory, and migrations: the only place that knows about DB dialects."""

import logging
import multiprocessing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.dialects import registry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import greenlet_spawn

from config import ROOT
from models.fair_pool import FairQueuePool
from models.sqlite_driver import begin, without_writer_turn

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_TIMEOUT_SECONDS = 120
READ_ONLY = "shop_read_only"  # execution option set by read_only()
# Every sqlite+aiosqlite engine in the process, migrations' included: one thread hop per statement, and
# writers queue in order before taking a pooled connection (models/sqlite_driver.py).
registry.register("sqlite.aiosqlite", "models.sqlite_driver", "dialect")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite every transaction but a `read_only` one starts with BEGIN IMMEDIATE.

    SQLite ignores SELECT ... FOR UPDATE. Taking the write lock at BEGIN makes each transaction
    see the latest committed state and run alone among writers, so a conditional UPDATE can
    never act on a stale read. In this process writers take turns before they take a pooled
    connection (models.sqlite_driver.WriterQueuePool); busy_timeout makes other processes' writers wait.
    """
    # A burst of buyers queues for a connection rather than failing after the default 30 s.
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    # Tasks wait for one of ten connections in the order they asked (models.fair_pool). No overflow: more
    # transactions at once would only queue on the same rows and for this process's one core, and the extra
    # connections are opened and closed again with each burst.
    kwargs.setdefault("poolclass", FairQueuePool)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 0)
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


@asynccontextmanager
async def standalone_session(url: str) -> AsyncIterator[AsyncSession]:
    """One session on its own engine, for command-line tools; both are closed afterwards."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def read_only(session: AsyncSession) -> AsyncIterator[None]:
    """A transaction that only reads.

    On SQLite it starts with a plain (deferred) BEGIN, so under WAL it reads one snapshot, the last committed
    state, without queueing behind writers, neither for the write lock nor for the writer's turn in this
    process. PostgreSQL runs it READ ONLY, so a write slipped into one fails in the tests instead of
    silently taking SQLite's lock; there it is READ COMMITTED, so each statement sees what was committed
    before it, not one snapshot.
    """
    # What `async with session.begin()` and `session.connection(...)` do, in one greenlet hop instead of
    # two: each update opens one or two of these. The connection is checked out there, without the writer's
    # turn (the context variable reaches the greenlet).
    with without_writer_turn():
        transaction = await greenlet_spawn(_begin_read_only, session.sync_session)
    try:
        yield
    except BaseException as e:
        await greenlet_spawn(transaction.__exit__, type(e), e, e.__traceback__)
        raise
    await greenlet_spawn(transaction.__exit__, None, None, None)


def _begin_read_only(session: Session) -> SessionTransaction:
    transaction = session.begin().__enter__()
    try:
        session.connection(execution_options={READ_ONLY: True, "postgresql_readonly": True})
    except BaseException as e:
        transaction.__exit__(type(e), e, e.__traceback__)
        raise
    return transaction


async def close_session(session: AsyncSession) -> None:
    """Close `session` as `async with` would. One that holds no transaction has nothing to give back to the
    pool: it only forgets its objects, here and now, where `async with` would run that in a task and a
    greenlet of their own (about 23 µs, which every update paid). One that does is rolled back and gives
    its connection back, as `async with` does it, even if this task is cancelled meanwhile."""
    if not session.in_transaction():
        session.sync_session.close()
        return
    async with session:
        pass


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _sqlite_begin_immediate
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Erased data (a shipping address set to NULL) is overwritten with zeros in the file, not left in free
    # space; some builds of SQLite do this by default, others do not.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    begin(conn, "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def alembic_config(url: str) -> "Config":
    from alembic.config import Config  # noqa: PLC0415 - alembic, mako and pygments: about 17 MiB

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "models" / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade_database(url: str) -> None:
    """Apply pending migrations (blocking; call before the event loop starts or in a thread)."""
    from alembic import command  # noqa: PLC0415

    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), "head")
    log.info("database schema is at head")


def upgrade_database_in_child(url: str) -> None:
    """upgrade_database in a child process, so that alembic never loads into a long-running one. The URL
    reaches the child through a pipe, not its command line. Raises MigrationFailed (the child printed why)."""
    child = multiprocessing.get_context("spawn").Process(target=upgrade_database, args=(url,), name="migrate")
    child.start()
    child.join()
    if child.exitcode != 0:
        raise MigrationFailed(f"applying database migrations failed (exit code {child.exitcode}, see above)")


class MigrationFailed(Exception):
    pass
