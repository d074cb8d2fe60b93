"""A pool whose connections go to the tasks that wait for them in the order they asked.

SQLAlchemy's async pool keeps idle connections in an `asyncio.Queue`. A connection given back stays in that
queue until the waiter it wakes gets to run; a task that asks meanwhile takes it at once, and the woken waiter,
finding the queue empty, queues again behind everyone (CPython 3.11's `Queue.get`). Under a burst (fifty buyers
checking out on PostgreSQL at once) a few waited two or three turns: p50 300 ms, p99 650 ms. `FairQueue` hands
a connection given back straight to the oldest waiter, so nobody can pass it, and p99 is the p50's turn.

`FairQueuePool` is `AsyncAdaptedQueuePool` with that queue; it relies on the pool's `_queue_class`, read in
SQLAlchemy's QueuePool.__init__ (models.sqlite_driver.TESTED_WITH pins the version that was read).
"""

import asyncio
from collections import deque
from typing import Any, TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

T = TypeVar("T")


class FairQueue(AsyncAdaptedQueue[T]):
    """First come, first served: an item put while tasks wait goes to the oldest of them. A waiter cancelled
    after its item came passes the item on. `get` raises sqlalchemy's Empty after `timeout` seconds, as the
    stock queue does (the pool turns that into its TimeoutError)."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._items: deque[T] = deque()
        self._waiters: deque[asyncio.Future[T]] = deque()  # non-empty only while _items is empty

    @property
    def waiting(self) -> int:
        return sum(not w.done() for w in self._waiters)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter leaves its future cancelled
                waiter.set_result(item)
                return
        if self.full():
            raise Full()
        self._items.append(item)

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # a put never waits: the pool puts back only what it took

    def get_nowait(self) -> T:
        if not self._items:
            raise Empty()
        return self._items.pop() if self.use_lifo else self._items.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if self._items or not block:
            return self.get_nowait()
        return await_only(self.wait(timeout))

    async def wait(self, timeout: float | None) -> T:
        """The next item, waiting behind those who asked first; Empty after `timeout` seconds."""
        if self._items:
            return self.get_nowait()
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed the item just as this waiter gave up
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise Empty() from error
            raise


class FairQueuePool(AsyncAdaptedQueuePool):
    _queue_class = FairQueue  # type: ignore[assignment]  # SQLAlchemy types it as its own queue classes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self._pool, FairQueue)  # a SQLAlchemy that stopped reading _queue_class fails here

    @property
    def waiting(self) -> int:
        """Tasks waiting for a connection."""
        assert isinstance(self._pool, FairQueue)
        return self._pool.waiting
