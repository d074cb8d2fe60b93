"""models.fair_pool: pooled connections go to waiting tasks in the order they asked, on both databases."""

import asyncio

import pytest
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.database import create_engine
from models.fair_pool import FairQueue, FairQueuePool
from models.sqlite_driver import without_writer_turn


def pool_of(engine: AsyncEngine) -> FairQueuePool:
    pool = engine.sync_engine.pool
    assert isinstance(pool, FairQueuePool)
    return pool


async def connected(engine: AsyncEngine) -> AsyncConnection:
    """A checked-out connection; on SQLite without the writer's turn, so that only the pool orders them."""
    with without_writer_turn():
        conn = engine.connect()
        await conn.start()
    return conn


async def test_a_connection_given_back_goes_to_the_oldest_waiter(db_url: str) -> None:
    """The holder gives its connection back and at once asks again: it gets it after the five who waited, in
    their order. (SQLAlchemy's stock async pool gave it straight back to the holder, and the woken waiter
    queued again behind the others.)"""
    engine = create_engine(db_url, pool_size=1, max_overflow=0)
    pool, got = pool_of(engine), []

    async def use(name: str) -> None:
        conn = await connected(engine)
        got.append(name)
        await asyncio.sleep(0.01)
        await conn.close()

    holding = await connected(engine)
    waiters = []
    for n in range(5):
        waiters.append(asyncio.create_task(use(f"w{n}")))
        async with asyncio.timeout(10):
            while pool.waiting < n + 1:  # this one asks before the next is started
                await asyncio.sleep(0)
    async with asyncio.timeout(30):
        await holding.close()
        await use("holder again")  # asks in the same step the connection came back
        await asyncio.gather(*waiters)
    assert got == ["w0", "w1", "w2", "w3", "w4", "holder again"]
    assert pool.waiting == 0
    await engine.dispose()


async def test_waiting_longer_than_the_pool_timeout_raises_and_leaves_the_line(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    holding = await connected(engine)
    with pytest.raises(exc.TimeoutError):
        await connected(engine)
    assert pool_of(engine).waiting == 0
    await holding.close()
    await (await asyncio.wait_for(connected(engine), timeout=10)).close()
    await engine.dispose()


async def test_a_waiter_cancelled_as_its_item_comes_passes_it_on() -> None:
    line: FairQueue[str] = FairQueue()
    first, second = (asyncio.create_task(line.wait(timeout=None)) for _ in range(2))
    await asyncio.sleep(0)
    assert line.waiting == 2
    line.put_nowait("connection")
    first.cancel()  # handed the item, then cancelled before it ran
    assert await asyncio.wait_for(second, timeout=1) == "connection"
    assert first.cancelled()
    assert line.empty()
    assert line.waiting == 0
