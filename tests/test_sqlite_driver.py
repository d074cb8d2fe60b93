"""models.sqlite_driver: at most one thread hop per statement, the stock dialect's results, and writers taking turns
in order (SQLite only; PostgreSQL has neither)."""

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.ext.asyncio import AsyncEngine

import models.sqlite_driver
from models.database import create_engine, create_sessionmaker, read_only
from models.sqlite_driver import (
    LOOP_HOLD_SECONDS,
    TESTED_WITH,
    OneHopSQLiteDialect,
    WriterQueuePool,
    WriterTurns,
    installed_versions,
)

WRITERS = 50


def test_the_installed_versions_are_the_ones_the_driver_was_written_for() -> None:
    """The driver uses private names of both; after an upgrade, read their sources again and move TESTED_WITH."""
    assert installed_versions() == TESTED_WITH


async def new_engine(path: Path, *, busy_wait: bool = True, **kwargs: Any) -> AsyncEngine:
    """An engine on a new file with table t; with busy_wait=False its connections have busy_timeout 0, so
    a writer that met another's write lock in SQLite would fail at once."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}", **kwargs)
    if not busy_wait:
        event.listen(engine.sync_engine, "connect", busy_timeout_zero)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, n INTEGER UNIQUE)"))
    return engine


def turns(engine: AsyncEngine) -> WriterTurns:
    pool = engine.sync_engine.pool
    assert isinstance(pool, WriterQueuePool)
    return pool.writers


def busy_timeout_zero(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


async def statements(engine: AsyncEngine) -> list[Any]:
    """What a caller sees from each kind of statement: rows, RETURNING, rowcount, lastrowid, errors."""
    seen: list[Any] = []
    async with engine.begin() as conn:
        seen.append((await conn.execute(text("INSERT INTO t (n) VALUES (1) RETURNING id, n"))).all())
        result = await conn.execute(text("INSERT INTO t (n) VALUES (:n)"), [{"n": 2}, {"n": 3}])  # executemany
        seen.append(result.rowcount)
        result = await conn.execute(text("INSERT INTO t (n) VALUES (4)"))
        seen.append((result.rowcount, result.lastrowid))
        seen.append((await conn.execute(text("UPDATE t SET n = n + 10 WHERE n > 2"))).rowcount)
        result = await conn.execute(text("SELECT id, n FROM t WHERE n > :n ORDER BY id"), {"n": 0})
        seen.append((list(result.keys()), result.fetchone(), result.fetchmany(2), result.all()))
        seen.append((await conn.execute(text("SELECT n FROM t WHERE n < 0"))).all())
    for first in (True, False):  # the transaction's first statement (a trip) or a later one (on the loop's thread)
        for bad in ("INSERT INTO t (n) VALUES (1)", "SELECT nope FROM t"):
            try:
                async with engine.begin() as conn:
                    if not first:
                        await conn.execute(text("SELECT 1"))
                    await conn.execute(text(bad))
            except exc.DBAPIError as e:
                seen.append((type(e), type(e.orig), str(e.orig)))
    return seen


async def test_statements_give_what_the_stock_dialect_gives(tmp_path: Path, monkeypatch) -> None:
    engine = await new_engine(tmp_path / "one-hop.db")
    assert type(engine.dialect) is OneHopSQLiteDialect
    ours = await statements(engine)
    await engine.dispose()
    monkeypatch.setattr(models.sqlite_driver, "dialect", SQLiteDialect_aiosqlite)
    stock_engine = await new_engine(tmp_path / "stock.db")
    assert type(stock_engine.dialect) is SQLiteDialect_aiosqlite
    stock = await statements(stock_engine)
    await stock_engine.dispose()
    assert ours == stock
    assert [error[0] for error in ours[-4:]] == [exc.IntegrityError, exc.OperationalError] * 2


def count_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions sent to a connection's thread from now on, by name, in order."""
    trips: list[str] = []
    original: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips


async def test_a_statement_is_one_trip_to_the_connection_thread_or_none(tmp_path: Path, monkeypatch) -> None:
    """A transaction's first statement (which can wait for a lock), executemany and COMMIT go to the thread;
    a later statement of the transaction runs on the loop's thread."""
    engine = await new_engine(tmp_path / "shop.db")
    async with engine.connect() as conn:
        trips = count_trips(monkeypatch)
        await conn.execute(text("SELECT 1"))  # autobegins: BEGIN IMMEDIATE in the SELECT's trip
        await conn.execute(text("INSERT INTO t (n) VALUES (:n)"), [{"n": 1}, {"n": 2}])
        assert (await conn.execute(text("SELECT id, n FROM t"))).tuples().all() == [(1, 1), (2, 2)]  # no trip
        await conn.commit()
        assert trips == ["_execute", "_executemany", "commit"]
        trips.clear()
        await conn.execute(text("INSERT INTO t (n) VALUES (:n)"), [{"n": 3}, {"n": 4}])  # BEGIN in this trip
        await conn.rollback()
        await conn.begin()
        await conn.commit()  # nothing ran: neither BEGIN nor COMMIT went to the thread
    assert trips == ["_executemany", "rollback"]
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all() == [1, 2]
    await engine.dispose()


async def test_a_long_transaction_makes_a_trip_once_it_held_the_loop_for_loop_hold_seconds(
    tmp_path: Path, monkeypatch
) -> None:
    """Other tasks run between the statements of a long transaction: once LOOP_HOLD_SECONDS have passed since
    its last trip, its next statement makes one (and runs there), and the ones after it run here again."""
    engine = await new_engine(tmp_path / "shop.db")
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(models.sqlite_driver, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    async with engine.connect() as conn:
        trips = count_trips(monkeypatch)
        for n in range(4):
            await conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
            clock.now += LOOP_HOLD_SECONDS * 0.4  # the fourth statement comes 1.2 holds after the first's trip
        await conn.commit()
        assert trips == ["_execute", "_execute", "commit"]
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 4
    await engine.dispose()


async def test_the_begin_in_the_first_statements_trip_opens_the_transaction_it_always_did(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE still takes the write lock before the first statement runs (a second writer from
    another process waits for it), and a read_only transaction still reads one snapshot."""
    engine = await new_engine(tmp_path / "shop.db")
    other = await new_engine(tmp_path / "shop.db", busy_wait=False)  # as another process's writer would
    sessions, other_sessions = create_sessionmaker(engine), create_sessionmaker(other)
    async with sessions() as reader, read_only(reader):
        assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        async with sessions.begin() as writer:
            await writer.execute(text("SELECT 1"))  # a write transaction holds the lock from its first statement
            with pytest.raises(exc.OperationalError, match="database is locked"):
                async with other_sessions.begin() as late:
                    await late.execute(text("SELECT 1"))
            await writer.execute(text("INSERT INTO t (n) VALUES (1)"))
        assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0  # its snapshot
    await engine.dispose()
    await other.dispose()


async def test_fifty_writers_all_commit_in_the_order_they_asked(tmp_path: Path) -> None:
    """Fifty writers at once, with busy_timeout 0: none meets another's lock in SQLite; each gets the turn
    in the order it asked, and a pool of five is enough because queued writers hold no connection."""
    engine = await new_engine(tmp_path / "shop.db", busy_wait=False, pool_size=5, max_overflow=0)
    sessions = create_sessionmaker(engine)
    holder_in, holder_go = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with sessions.begin() as s:
            await s.execute(text("INSERT INTO t (n) VALUES (-1)"))
            holder_in.set()
            await holder_go.wait()

    async def writer(n: int) -> None:
        async with sessions.begin() as s:
            await s.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})

    first = asyncio.create_task(holder())
    await holder_in.wait()
    writers = []
    for n in range(WRITERS):
        writers.append(asyncio.create_task(writer(n)))
        while turns(engine).waiting < n + 1:  # this one has asked before the next is started
            await asyncio.sleep(0)
    assert engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    holder_go.set()
    await asyncio.wait_for(asyncio.gather(first, *writers), timeout=60)
    async with engine.connect() as conn:
        committed = (await conn.execute(text("SELECT n FROM t ORDER BY id"))).scalars().all()
    assert committed == [-1, *range(WRITERS)]
    assert turns(engine).waiting == 0
    await engine.dispose()


async def test_a_rollback_an_error_or_an_invalidated_connection_gives_the_turn_back(tmp_path: Path) -> None:
    engine = await new_engine(tmp_path / "shop.db")
    sessions = create_sessionmaker(engine)
    with pytest.raises(exc.IntegrityError):
        async with sessions.begin() as s:
            await s.execute(text("INSERT INTO t (n) VALUES (1), (1)"))
    with pytest.raises(RuntimeError):
        async with sessions.begin() as s:
            await s.execute(text("INSERT INTO t (n) VALUES (2)"))
            raise RuntimeError("the service gave up")
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (n) VALUES (3)"))
        await conn.invalidate()
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (n) VALUES (4)"))
        await conn.rollback()
    # Another task: this one would take a turn it kept again (a nested session), another waits for it.
    await asyncio.wait_for(insert_one(sessions, 5), timeout=10)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT n FROM t"))).scalars().all() == [5]
    await engine.dispose()


async def holding_the_turn(sessions: Any, release: asyncio.Event) -> asyncio.Task[None]:
    """A writer that holds the turn, its transaction open, until `release` is set."""
    inside = asyncio.Event()

    async def hold() -> None:
        async with sessions.begin() as s:
            await s.execute(text("INSERT INTO t (n) VALUES (1)"))
            inside.set()
            await release.wait()

    task = asyncio.create_task(hold())
    await inside.wait()
    return task


async def test_a_cancelled_waiter_passes_the_turn_on(tmp_path: Path) -> None:
    engine = await new_engine(tmp_path / "shop.db")
    sessions = create_sessionmaker(engine)
    release = asyncio.Event()
    holder = await holding_the_turn(sessions, release)
    cancelled = asyncio.create_task(insert_one(sessions, 2))
    while turns(engine).waiting == 0:
        await asyncio.sleep(0.01)
    cancelled.cancel()
    last = asyncio.create_task(insert_one(sessions, 3))
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, last), timeout=10)
    assert cancelled.cancelled()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT n FROM t ORDER BY id"))).scalars().all() == [1, 3]
    assert turns(engine).waiting == 0
    await engine.dispose()


async def test_waiting_longer_than_the_pool_timeout_raises_and_leaves_the_queue(tmp_path: Path) -> None:
    engine = await new_engine(tmp_path / "shop.db", pool_timeout=0.2)
    sessions = create_sessionmaker(engine)
    release = asyncio.Event()
    holder = await holding_the_turn(sessions, release)
    with pytest.raises(exc.TimeoutError):
        await insert_one(sessions, 2)
    assert turns(engine).waiting == 0
    release.set()
    await holder
    await insert_one(sessions, 3)
    await engine.dispose()


async def test_readers_do_not_queue_for_the_writers_turn(tmp_path: Path) -> None:
    engine = await new_engine(tmp_path / "shop.db", pool_size=2, max_overflow=0)
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as writer:
        await writer.execute(text("INSERT INTO t (n) VALUES (1)"))
        queued = [asyncio.create_task(insert_one(sessions, n)) for n in range(2, 12)]
        while turns(engine).waiting < len(queued):
            await asyncio.sleep(0.01)

        async def read() -> list[int]:
            async with sessions() as s, read_only(s):
                return list((await s.execute(text("SELECT n FROM t"))).scalars())

        assert await asyncio.wait_for(read(), timeout=10) == []  # the writer has not committed yet
    await asyncio.wait_for(asyncio.gather(*queued), timeout=30)
    await engine.dispose()


async def insert_one(sessions: Any, n: int) -> None:
    async with sessions.begin() as s:
        await s.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})


async def test_the_task_holding_the_turn_can_open_another_session(tmp_path: Path) -> None:
    """A nested session in the task that holds the turn does not wait for itself: its connection is
    checked out at once (what SQLite then says to a second writer is SQLite's business, as before)."""
    engine = await new_engine(tmp_path / "shop.db")
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as outer:
        await outer.execute(text("INSERT INTO t (n) VALUES (1)"))
        async with asyncio.timeout(10), engine.connect() as inner:
            await inner.get_raw_connection()  # checked out: no BEGIN yet
        async with asyncio.timeout(10), sessions() as other, read_only(other):
            assert (await other.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    async with asyncio.timeout(10):
        await insert_one(sessions, 2)  # both takes were given back
    await engine.dispose()


async def test_writer_turns_in_one_task_count_takes() -> None:
    writers = WriterTurns(timeout=1)
    await writers.take()
    await writers.take()
    writers.give_back()
    other = asyncio.create_task(writers.take())
    await asyncio.sleep(0.01)
    assert not other.done()
    writers.give_back()
    await asyncio.wait_for(other, timeout=1)


async def test_a_waiter_cancelled_just_before_or_after_its_turn_passes_it_on() -> None:
    writers = WriterTurns(timeout=1)
    await writers.take()
    cancelled, granted, last = (asyncio.create_task(writers.take()) for _ in range(3))
    await asyncio.sleep(0)
    assert writers.waiting == 3
    cancelled.cancel()  # its turn comes in the same step: it is skipped
    writers.give_back()
    granted.cancel()  # cancelled after its turn came: it passes the turn on
    await asyncio.wait_for(last, timeout=1)
    assert cancelled.cancelled()
    assert granted.cancelled()
    assert writers.waiting == 0
    writers.give_back()  # last's
    await asyncio.wait_for(writers.take(), timeout=1)
