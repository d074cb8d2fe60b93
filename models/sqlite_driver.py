"""SQLite through aiosqlite with at most one thread hop per statement, and this process's writers taking turns.

`sqlite+aiosqlite` URLs get `dialect` (models.database registers it). What it changes in SQLAlchemy's stock
aiosqlite dialect, nothing else:

- **One hop per statement.** aiosqlite runs each sqlite3 call on its connection's thread; the stock cursor
  queues cursor(), execute(), fetchall() and close() there one by one, each a round trip through the
  event loop. `OneHopCursor` runs the whole statement as one function on that thread and keeps the rows,
  description, rowcount and lastrowid it returns. Errors are sqlite3's own, so SQLAlchemy translates them
  as before. Server-side cursors (stream_results) keep the stock code: nothing here streams.
  A transaction's BEGIN rides in the same trip as its first statement (`begin`): a BEGIN runs nothing
  before that statement anyway, deferred or IMMEDIATE, so only where its error would surface moves. A
  COMMIT or ROLLBACK with no transaction open on the thread (nothing ran since the BEGIN) makes no trip,
  nor does the pool's rollback of a connection it gets back after a COMMIT.
- **No hop once the transaction holds its lock.** Only a transaction's first statement can wait: for the
  write lock (BEGIN IMMEDIATE, behind another process's writer) or while it opens its WAL snapshot. Later
  statements of the same transaction take no lock SQLite could make them wait for (under WAL, which every
  connection sets: a write transaction holds the write lock, a read one its snapshot), so they run here, on
  the event loop's thread, without the trip (about 17 µs of CPU alone, several times that when ten presses'
  tasks hand the GIL back and forth), for at most `LOOP_HOLD_SECONDS` after the transaction's last trip, so
  a long transaction still lets other tasks run between its statements. The connection is never used by
  both threads at once: a statement's trip has ended before the next starts, and file databases are opened
  with check_same_thread=False. COMMIT, ROLLBACK and executemany (bulk imports) still go to the thread: a
  commit can run a WAL checkpoint, which writes and syncs the file.
- **Writers take turns, first come first served** (`WriterQueuePool`). A connection checked out for
  anything but a `read_only` transaction waits for the writer's turn *before* it takes a pooled connection,
  and gives the turn back when the connection returns to the pool: after its COMMIT or ROLLBACK, or its
  invalidation. So a queue of writers holds one pooled connection, not all of them, readers are not stuck
  behind it, and no writer of this process waits in SQLite's busy handler, which wakes waiters late and in
  no particular order. Other processes (tools, a second instance) still meet them there (busy_timeout).
  The task holding the turn may check out another writer's connection (a nested session): that does not
  wait for itself here, and meets SQLite's own lock as it did before.

Both use private names of SQLAlchemy and aiosqlite, so they are used only with the versions in
TESTED_WITH; with others the stock dialect is used, with a warning (tests/test_sqlite_driver.py fails then).
"""

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiosqlite
import sqlalchemy
from sqlalchemy import exc
from sqlalchemy.connectors.asyncio import AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.engine import URL
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import Empty

from models.fair_pool import FairQueue, FairQueuePool

log = logging.getLogger(__name__)
TESTED_WITH = {"sqlalchemy": "2.0.58", "aiosqlite": "0.22.1"}
_READING: ContextVar[bool] = ContextVar("sqlite_reading", default=False)
_HOLDS_TURN = "shop_holds_writer_turn"  # in a pooled connection's record_info while it holds the turn
# How long after its last trip a transaction's statements may run on the loop's thread: a transaction of many
# statements (the observer reads thousands of invoices in chunks) then makes a trip, and other tasks run.
LOOP_HOLD_SECONDS = 0.002

Row = tuple[Any, ...]
Description = tuple[tuple[Any, ...], ...] | None


def installed_versions() -> dict[str, str]:
    return {"sqlalchemy": sqlalchemy.__version__, "aiosqlite": aiosqlite.__version__}


@contextmanager
def without_writer_turn() -> Iterator[None]:
    """Connections checked out inside take no writer's turn: for transactions that only read."""
    token = _READING.set(True)
    try:
        yield
    finally:
        _READING.reset(token)


def begin(connection: sqlalchemy.Connection, sql: str) -> None:
    """Starts the connection's transaction with `sql` (BEGIN or BEGIN IMMEDIATE); on this driver in the same
    trip to the thread as the transaction's first statement, else at once."""
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, OneHopConnection):
        dbapi_connection.begin_with_next_statement(sql)
    else:
        connection.exec_driver_sql(sql)


def _execute(
    conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any
) -> tuple[Description, list[Row], int, int | None]:
    """Runs on the connection's thread: the transaction's BEGIN when this is its first statement, the
    statement and, when it returns rows, all of them."""
    if begin is not None:
        conn.execute(begin).close()
    cursor = conn.cursor()
    try:
        cursor.execute(operation, () if parameters is None else parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1  # the stock cursor's -1s for row-returning SQL
        return None, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _executemany(
    conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Sequence[Any]
) -> tuple[int, int | None]:
    if begin is not None:
        conn.execute(begin).close()
    cursor = conn.executemany(operation, parameters)
    try:
        return cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _ran_here() -> None:
    """Awaited after a statement that ran on the loop's thread: SQLAlchemy's AsyncConnection.execute
    requires its greenlet to have awaited something (its check for a driver that is not async). Returns at
    once, without yielding to the loop."""


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _adapt_connection: "OneHopConnection"

    def execute(self, operation: Any, parameters: Any = None) -> None:
        try:
            conn = self._connection._conn  # raises "no active connection" as the stock cursor does
            adapted = self._adapt_connection
            begin = adapted.take_begin()
            if begin is None and conn.in_transaction and time.perf_counter() < adapted.here_until:
                ran = _execute(conn, None, operation, parameters)
                self.await_(_ran_here())
            else:
                ran = self.await_(self._connection._execute(_execute, conn, begin, operation, parameters))
                adapted.here_until = time.perf_counter() + LOOP_HOLD_SECONDS
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description, rows, self.rowcount, self.lastrowid = ran  # type: ignore[assignment]  # sqlite3's None
        if self.description:
            self._rows = deque(rows)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        try:
            conn = self._connection._conn
            begin = self._adapt_connection.take_begin()
            rowcount, lastrowid = self.await_(
                self._connection._execute(_executemany, conn, begin, operation, seq_of_parameters)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description = None
        self.rowcount, self.lastrowid = rowcount, lastrowid


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_begin", "here_until")

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None  # the BEGIN the next statement runs first
        self.here_until = 0.0  # statements may run on the loop's thread until then (time.perf_counter)

    def begin_with_next_statement(self, sql: str) -> None:
        self._begin = sql

    def take_begin(self) -> str | None:
        begin, self._begin = self._begin, None
        return begin

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if not server_side:
            return OneHopCursor(self)
        begin = self.take_begin()  # a streaming cursor runs its statement the stock way: BEGIN first, alone
        if begin is not None:
            OneHopCursor(self).execute(begin)
        return super().cursor(server_side)

    def _nothing_open(self) -> bool:
        # Reading the flag here is safe: nothing else runs on this connection meanwhile, and file databases
        # are opened with check_same_thread=False.
        self._begin = None
        try:
            return not self._connection._conn.in_transaction
        except Exception as error:
            self._handle_exception(error)

    def commit(self) -> None:
        # A transaction that ran no statement never reached the thread: sqlite3 would do nothing there.
        if not self._nothing_open():
            super().commit()

    def rollback(self) -> None:
        # The pool rolls back every connection it gets back, mostly after a COMMIT. sqlite3 then does
        # nothing on the thread (no transaction open), so the trip there is skipped.
        if not self._nothing_open():
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        if type(adapted) is not AsyncAdapt_aiosqlite_connection:
            return adapted  # the deprecated async_fallback mode keeps the stock cursor
        return OneHopConnection(self, adapted._connection)


class WriterTurns:
    """One writer at a time, in the order they asked (a FairQueue holding one turn). The task holding the turn
    may take it again (a nested session); each take is given back once. Waiting longer than `timeout` seconds
    raises sqlalchemy.exc.TimeoutError, as waiting for a pooled connection does."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._turn: FairQueue[bool] = FairQueue(maxsize=1)
        self._turn.put_nowait(True)
        self._holder: asyncio.Task[Any] | None = None
        self._depth = 0  # takes not yet given back by the holder

    @property
    def waiting(self) -> int:
        return self._turn.waiting

    def take_now(self) -> bool:
        """Take the turn if that needs no waiting."""
        task = asyncio.current_task()
        if self._depth and task is not None and self._holder is task:
            self._depth += 1
            return True
        if self._turn.empty():
            return False
        self._turn.get_nowait()
        self._holder, self._depth = task, 1
        return True

    async def take(self) -> None:
        if self.take_now():
            return
        try:
            await self._turn.wait(self._timeout)
        except Empty as error:
            raise exc.TimeoutError(f"waited {self._timeout:.0f} s for the SQLite writer's turn") from error
        self._holder, self._depth = asyncio.current_task(), 1

    def give_back(self) -> None:
        self._depth -= 1
        if not self._depth:
            self._holder = None
            self._turn.put_nowait(True)


class WriterQueuePool(FairQueuePool):
    """The engine's pool for SQLite files: a writer's connection holds `writers`' turn while checked out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writers = WriterTurns(self._timeout)

    def connect(self) -> PoolProxiedConnection:
        if _READING.get():
            return super().connect()
        if not self.writers.take_now():
            await_only(self.writers.take())
        try:
            connection = super().connect()
        except BaseException:
            self.writers.give_back()
            raise
        # record_info outlives an invalidation (info does not), and _do_return_conn sees the same dict.
        assert connection.record_info is not None
        connection.record_info[_HOLDS_TURN] = True
        return connection

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        # Every way back (checkin after the reset's ROLLBACK, invalidation, a failed checkout, detach) ends here.
        try:
            super()._do_return_conn(record)
        finally:
            info = record.record_info
            if info is not None and info.pop(_HOLDS_TURN, False):
                self.writers.give_back()


class OneHopSQLiteDialect(SQLiteDialect_aiosqlite):
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        return OneHopDBAPI(aiosqlite, sqlite3)

    @classmethod
    def get_pool_class(cls, url: URL) -> type[Pool]:
        return WriterQueuePool if cls._is_url_file_db(url) else super().get_pool_class(url)


dialect: type[SQLiteDialect_aiosqlite] = OneHopSQLiteDialect
if installed_versions() != TESTED_WITH:
    log.warning(
        "SQLAlchemy/aiosqlite %s differ from %s, which models.sqlite_driver was written for: "
        "using the stock aiosqlite dialect (slower; no writer queue)",
        installed_versions(),
        TESTED_WITH,
    )
    dialect = SQLiteDialect_aiosqlite
