"""One observer cycle over many open invoices: HTTP requests and bot-side CPU, beside the lower bound.

`--invoices` open BTC invoices are watched through the Esplora double, and as many SOL invoices through
the Solana double (none paid). Each double runs in a process of its own, so `time.process_time()` here
is the bot's work only: the backend, SQLAlchemy and SQLite (its thread runs in this process). The
double counts the HTTP requests it serves (and the Solana double the JSON-RPC calls in them); we ask
it for the counts over a pipe.

Lower bounds, from each provider's API (see the backends' docstrings):
- Esplora: one `GET /address/{a}` (its transaction counts) per address plus one `GET /blocks/tip/height`:
  1 + N. There is no batch call, and each address needs its own answer. A paid address costs more (its
  mempool list, and pages of 25 confirmed transactions); see processing/chains/esplora.py.
- Solana JSON-RPC: getSlot and one getSignaturesForAddress per address, in batches of at most 100
  calls (what public providers accept): ceil((N + 1) / 100) POSTs while nothing is paid, plus
  ceil(U / 100) getTransaction batches for U transactions not yet cached. Batching saves HTTP requests,
  not calls: the N + 1 JSON-RPC calls are all still made, and providers that meter or rate-limit per
  call count each one.
The CPU reference is a bare aiohttp client making exactly those lower-bound requests to the same
double and decoding the JSON: what any client must spend, with no database work.

Run: .venv/bin/python -m bench observer [--invoices N]   (default 500 per chain, to stay near a minute;
BENCHMARKS.md records --invoices 10000, which takes several minutes because every invoice costs a DB
transaction per cycle)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp

from bench.common import Row, env_int, print_rows, seed_open_invoices, shop_settings, sqlite_url
from config import Settings
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from processing.chains.base import ChainBackend
from processing.chains.esplora import EsploraBackend
from processing.chains.http import BATCH_LIMIT, Call
from processing.chains.solana_rpc import SolanaRpcBackend
from processing.observer import Observer
from services.payments.seen import ChainSnapshot
from tests.doubles import FaultyServer
from tests.doubles.esplora import EsploraDouble
from tests.doubles.solana import SolanaDouble

TIMEOUT = 30.0


def _serve(kind: str, conn: Connection) -> None:
    """The double's process: send its URL, then answer every "count" with (HTTP requests, JSON-RPC
    calls) served so far; the Esplora double has no JSON-RPC, so it answers its requests twice."""

    async def serve() -> None:
        double: FaultyServer = EsploraDouble() if kind == "esplora" else SolanaDouble()
        conn.send(await double.start())
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) == "count":
            calls = double.calls if isinstance(double, SolanaDouble) else double.requests
            conn.send((len(double.requests), len(calls)))
        await double.stop()

    asyncio.run(serve())


class DoubleProcess:
    def __init__(self, conn: Connection, url: str) -> None:
        self._conn = conn
        self.url = url

    def counts(self) -> tuple[int, int]:
        """(HTTP requests, JSON-RPC calls) served so far."""
        self._conn.send("count")
        requests, calls = self._conn.recv()
        return int(requests), int(calls)


@contextmanager
def double_process(kind: str) -> Iterator[DoubleProcess]:
    """The "esplora" or "solana" double in a process of its own, stopped afterwards."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(kind, there), daemon=True)
    process.start()
    try:
        yield DoubleProcess(here, here.recv())
    finally:
        here.send("stop")
        process.join(10)


class TimedScans:
    """A backend that adds up the CPU and wall seconds of its scans: the provider side of a cycle."""

    def __init__(self, backend: ChainBackend) -> None:
        self.chain, self.name, self._backend = backend.chain, backend.name, backend
        self.cpu = self.wall = 0.0

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        await self._backend.watch(addresses, rescan_recent=rescan_recent)

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return await self._backend.scan(addresses, since=since)
        finally:
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall

    async def tip_height(self) -> int:
        return await self._backend.tip_height()

    async def close(self) -> None:
        await self._backend.close()


async def bare_esplora(url: str, addresses: list[str]) -> None:
    async with aiohttp.ClientSession() as http:
        for address in addresses:
            async with http.get(f"{url}/address/{address}") as response:
                json.loads(await response.read())
        async with http.get(f"{url}/blocks/tip/height") as response:
            int(await response.text())


async def bare_solana(url: str, addresses: list[str]) -> None:
    calls: list[Call] = [("getSlot", [{"commitment": "finalized"}])]
    calls += [("getSignaturesForAddress", [a, {"limit": 1000, "commitment": "finalized"}]) for a in addresses]
    async with aiohttp.ClientSession() as http:
        for start in range(0, len(calls), BATCH_LIMIT):
            body = [
                {"jsonrpc": "2.0", "id": start + n, "method": method, "params": params}
                for n, (method, params) in enumerate(calls[start : start + BATCH_LIMIT])
            ]
            async with http.post(url, json=body) as response:
                json.loads(await response.read())


async def cycle(
    settings: Settings, chain: Chain, backend: ChainBackend, double: DoubleProcess, addresses: list[str], bound: int
) -> list[Row]:
    """One observer cycle, then the bare client; rows for requests, CPU and wall time."""
    engine = create_engine(settings.database_url)
    timed = TimedScans(backend)
    observer = Observer(create_sessionmaker(engine), settings, {chain: timed})
    before, cpu, wall = double.counts(), time.process_time(), time.perf_counter()
    await observer.observe(chain)
    cpu, wall, after = time.process_time() - cpu, time.perf_counter() - wall, double.counts()
    requests, calls = after[0] - before[0], after[1] - before[1]
    await timed.close()
    await engine.dispose()
    if observer.health[chain].failures:
        raise RuntimeError(f"{chain}: the provider failed during the cycle")
    bare = bare_esplora if chain is Chain.btc else bare_solana
    before, bare_cpu, bare_wall = double.counts(), time.process_time(), time.perf_counter()
    await bare(double.url, addresses)
    bare_cpu, bare_wall = time.process_time() - bare_cpu, time.perf_counter() - bare_wall
    bare_requests = double.counts()[0] - before[0]
    name, n = backend.name, len(addresses)
    formula = "1 + N" if chain is Chain.btc else "ceil((N+1)/100)"
    bare_name = f"bare aiohttp, {bare_requests:,} requests"
    rpc = [Row(f"{name} JSON-RPC calls/cycle", calls, "calls", "lower bound N + 1", n + 1)]
    return [
        Row(f"{name} HTTP requests/cycle, N={n:,}", requests, "requests", f"lower bound {formula}", bound),
        *(rpc if chain is Chain.sol else []),
        Row(f"{name} scan CPU s (HTTP + decode)", timed.cpu, "CPU s", f"{bare_name}: CPU s", bare_cpu),
        Row(f"{name} cycle CPU s (scan + DB)", cpu, "CPU s", f"{bare_name}: CPU s", bare_cpu),
        Row(f"{name} cycle wall s", wall, "s", f"{bare_name}: wall s", bare_wall),
    ]


async def seed(settings: Settings, invoices: int) -> dict[Chain, list[str]]:
    """Distinct addresses of plausible length (the doubles accept any); bulk-inserted open invoices."""
    addresses = {
        Chain.btc: [f"bc1qbench{n:033d}" for n in range(invoices)],
        Chain.sol: [f"BenchSo1{n:036d}" for n in range(invoices)],
    }
    engine = create_engine(settings.database_url)
    sessions = create_sessionmaker(engine)
    await seed_open_invoices(sessions, Chain.btc, addresses[Chain.btc], first_telegram_id=1_000_000)
    await seed_open_invoices(sessions, Chain.sol, addresses[Chain.sol], first_telegram_id=2_000_000)
    await engine.dispose()
    return addresses


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench observer", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--invoices", type=int, default=env_int("BENCH_OBSERVER_INVOICES", 500), help="open invoices per chain"
    )
    args = parser.parse_args(argv)
    n = args.invoices
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-observer-") as tmp:
        settings = shop_settings(sqlite_url(Path(tmp)), Path(tmp) / "no-sol.key")
        addresses = asyncio.run(seed(settings, n))
        with double_process("esplora") as esplora:
            backend: ChainBackend = EsploraBackend(Chain.btc, esplora.url, TIMEOUT)
            rows += asyncio.run(cycle(settings, Chain.btc, backend, esplora, addresses[Chain.btc], 1 + n))
        with double_process("solana") as solana:
            backend = SolanaRpcBackend(solana.url, "finalized", TIMEOUT)
            rows += asyncio.run(
                cycle(settings, Chain.sol, backend, solana, addresses[Chain.sol], math.ceil((n + 1) / BATCH_LIMIT))
            )
    return rows


if __name__ == "__main__":
    print_rows(main())
