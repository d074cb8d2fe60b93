"""One observer cycle over many open invoices: HTTP requests and bot-side CPU, beside the lower bound.

`--invoices` open BTC invoices are watched through the Esplora double, and as many SOL invoices through
the Solana double (none paid); then as many USDT invoices on Ethereum through anvil (a real node, behind a
counting proxy) and USDC invoices on Solana through the Solana double. Each double runs in a process of
its own, so `time.process_time()` here is the bot's work only: the backend, SQLAlchemy and SQLite (its
thread runs in this process). The double counts the HTTP requests it serves (and the JSON-RPC calls in
them); we ask it for the counts over a pipe.

Lower bounds, from each provider's API (see the backends' docstrings):
- Esplora: one `GET /address/{a}` (its transaction counts) per address plus one `GET /blocks/tip/height`:
  1 + N. There is no batch call, and each address needs its own answer. A paid address costs more (its
  mempool list, and pages of 25 confirmed transactions); see processing/chains/esplora.py.
- Solana JSON-RPC: getSlot and one getSignaturesForAddress per address, in batches of at most 100
  calls (what public providers accept): ceil((N + 1) / 100) POSTs while nothing is paid, plus
  ceil(U / 100) getTransaction batches for U transactions not yet cached. Batching saves HTTP requests,
  not calls: the N + 1 JSON-RPC calls are all still made, and providers that meter or rate-limit per
  call count each one.
- ERC-20 tokens (processing/chains/erc20.py): one batch per cycle holding one `eth_getLogs` for all token
  invoices, the lower bound the issue sets. geth refuses more than 1,000 recipients in one filter, so N
  invoices need ceil(N / 1000) eth_getLogs calls in that one request. The first cycle after a start also
  searches back to the invoices' creation (a few more requests): the rows show it and the cycle after it.
- SPL tokens: as SOL, one getSignaturesForAddress per invoice's token account: ceil((N + 1) / 100).
The CPU reference is a bare aiohttp client making exactly those lower-bound requests to the same
double and decoding the JSON: what any client must spend, with no database work.

Run: .venv/bin/python -m bench observer [--invoices N] [--only esplora|solana|erc20|spl]   (default 500
per chain, to stay near a minute; BENCHMARKS.md records --invoices 10000, which takes several minutes
because every invoice costs a DB transaction per cycle; erc20 needs anvil, from `npm install`)
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
from models.chains import Asset
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from processing.chains.base import ChainBackend, TokenBackend
from processing.chains.erc20 import MAX_RECIPIENTS, TRANSFER, Erc20Backend
from processing.chains.esplora import EsploraBackend
from processing.chains.evm_rpc import EvmRpcBackend
from processing.chains.http import BATCH_LIMIT, Call
from processing.chains.solana_rpc import SolanaRpcBackend
from processing.chains.spl_token import SplTokenBackend
from processing.observer import Observer
from services.payments.seen import ChainSnapshot, TokenWatch
from services.wallet.spl import associated_token_account
from tests.doubles import FaultyServer
from tests.doubles.esplora import EsploraDouble
from tests.doubles.rpc_counter import CountingProxy
from tests.doubles.solana import SolanaDouble, new_pubkey
from tests.erc20 import deploy
from tests.nodes import Anvil, find_anvil

TIMEOUT = 30.0
PARTS = ("esplora", "solana", "erc20", "spl")


def _serve(kind: str, conn: Connection) -> None:
    """The double's process: send its URL and the token it holds (a mint on the Solana double, a TetherLike
    contract on anvil), then answer every "count" with (HTTP requests, JSON-RPC calls, eth_getLogs calls)
    served so far; the Esplora double has no JSON-RPC, so it answers its requests as calls."""

    async def serve() -> None:
        anvil = None
        if kind == "anvil":  # a real node behind a proxy that counts what passes
            binary = find_anvil()
            if binary is None:
                conn.send(None)
                return
            anvil = Anvil(binary, Path(tempfile.mkdtemp(prefix="bench-anvil-")) / "anvil.log")
            token = deploy(anvil, "TetherLike").address
            double: FaultyServer = CountingProxy(anvil.url)
        elif kind == "esplora":
            double, token = EsploraDouble(), ""
        else:
            solana = SolanaDouble()
            double, token = solana, solana.new_mint(6)
        conn.send((await double.start(), token))
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) == "count":
            if isinstance(double, CountingProxy):
                conn.send((len(double.requests), sum(double.calls.values()), double.calls["eth_getLogs"]))
            else:
                calls = double.calls if isinstance(double, SolanaDouble) else double.requests
                conn.send((len(double.requests), len(calls), 0))
        await double.stop()
        if anvil is not None:
            anvil.stop()

    asyncio.run(serve())


class DoubleProcess:
    def __init__(self, conn: Connection, url: str, token: str) -> None:
        self._conn = conn
        self.url = url
        self.token = token

    def counts(self) -> tuple[int, int, int]:
        """(HTTP requests, JSON-RPC calls, eth_getLogs calls) served so far."""
        self._conn.send("count")
        requests, calls, logs = self._conn.recv()
        return int(requests), int(calls), int(logs)


@contextmanager
def double_process(kind: str) -> Iterator[DoubleProcess | None]:
    """The "esplora" or "solana" double, or "anvil" behind a counting proxy, in a process of its own, stopped
    afterwards; None when anvil is not installed."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(kind, there), daemon=True)
    process.start()
    try:
        started = here.recv()
        yield None if started is None else DoubleProcess(here, *started)
    finally:
        here.send("stop")
        process.join(20)


class Stopwatch:
    """Adds up the CPU and wall seconds of the calls it times: the provider side of a cycle."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall


class TimedScans(Stopwatch):
    """A backend whose scans are timed."""

    def __init__(self, backend: ChainBackend) -> None:
        super().__init__()
        self.chain, self.name, self._backend = backend.chain, backend.name, backend

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        await self._backend.watch(addresses, rescan_recent=rescan_recent)

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        with self.timing():
            return await self._backend.scan(addresses, since=since)

    async def tip_height(self) -> int:
        return await self._backend.tip_height()

    async def close(self) -> None:
        await self._backend.close()


class TimedTokens(Stopwatch):
    """A token backend whose scans are timed."""

    def __init__(self, backend: TokenBackend) -> None:
        super().__init__()
        self.chain, self.name, self._backend = backend.chain, backend.name, backend

    async def scan(self, wanted: Sequence[TokenWatch]) -> ChainSnapshot:
        with self.timing():
            return await self._backend.scan(wanted)

    async def balances(self, held: Sequence[TokenWatch]) -> dict[str, int]:
        return await self._backend.balances(held)

    async def sweep_fee(self) -> int:
        return await self._backend.sweep_fee()

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
    await bare_batches(url, calls)


async def bare_erc20(url: str, contract: str, addresses: list[str]) -> None:
    """eth_blockNumber and ceil(N / 1000) eth_getLogs to "latest", in one batch."""
    recipients = ["0x" + a.lower()[2:].rjust(64, "0") for a in addresses]
    calls: list[Call] = [("eth_blockNumber", [])]
    calls += [
        (
            "eth_getLogs",
            [
                {
                    "fromBlock": "earliest",
                    "toBlock": "latest",
                    "address": [contract],
                    "topics": [TRANSFER, None, recipients[i : i + MAX_RECIPIENTS]],
                }
            ],
        )
        for i in range(0, len(recipients), MAX_RECIPIENTS)
    ]
    await bare_batches(url, calls)


async def bare_batches(url: str, calls: list[Call]) -> None:
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


async def token_cycles(
    settings: Settings, native: ChainBackend, tokens: TokenBackend, double: DoubleProcess, addresses: list[str]
) -> list[Row]:
    """Two observer cycles over N token invoices: the first after a start (it searches back to the invoices'
    creation), then the one every later cycle is; then the bare client's lower-bound requests."""
    chain, n = tokens.chain, len(addresses)
    engine = create_engine(settings.database_url)
    timed = TimedTokens(tokens)
    observer = Observer(create_sessionmaker(engine), settings, {chain: native}, {chain: timed})
    rows: list[Row] = []
    erc20 = chain is Chain.eth
    bound = 1 if erc20 else math.ceil((n + 1) / BATCH_LIMIT)
    formula = "lower bound 1 (one batch)" if erc20 else "lower bound ceil((N+1)/100)"
    for when in ("first cycle after a start", "every later cycle"):
        timed.cpu = timed.wall = 0.0
        before, cpu, wall = double.counts(), time.process_time(), time.perf_counter()
        await observer.observe(chain)
        cpu, wall, after = time.process_time() - cpu, time.perf_counter() - wall, double.counts()
        if observer.health[chain].failures:
            raise RuntimeError(f"{chain}: the provider failed during the token cycle")
        requests, calls, logs = (a - b for a, b in zip(after, before, strict=True))
        rows.append(Row(f"{tokens.name} HTTP requests, {when}, N={n:,}", requests, "requests", formula, bound))
        if erc20:
            forced = math.ceil(n / MAX_RECIPIENTS)
            rows.append(Row(f"{tokens.name} eth_getLogs calls, {when}", logs, "calls", "lower bound 1", 1))
            rows.append(
                Row(
                    f"{tokens.name} eth_getLogs calls, {when}",
                    logs,
                    "calls",
                    "geth's 1,000-recipient cap: ceil(N/1000)",
                    forced,
                )
            )
        else:
            rows.append(Row(f"{tokens.name} JSON-RPC calls, {when}", calls, "calls", "lower bound N + 1", n + 1))
    await timed.close()
    await native.close()
    await engine.dispose()
    accounts = [] if erc20 else [associated_token_account(a, double.token) for a in addresses]  # cached meanwhile
    before, bare_cpu, bare_wall = double.counts(), time.process_time(), time.perf_counter()
    await (bare_erc20(double.url, double.token, addresses) if erc20 else bare_solana(double.url, accounts))
    bare_cpu, bare_wall = time.process_time() - bare_cpu, time.perf_counter() - bare_wall
    bare_name = f"bare aiohttp, {double.counts()[0] - before[0]:,} requests"
    return [
        *rows,
        Row(f"{tokens.name} scan CPU s (HTTP + decode)", timed.cpu, "CPU s", f"{bare_name}: CPU s", bare_cpu),
        Row(f"{tokens.name} cycle CPU s (scan + DB)", cpu, "CPU s", f"{bare_name}: CPU s", bare_cpu),
        Row(f"{tokens.name} cycle wall s", wall, "s", f"{bare_name}: wall s", bare_wall),
    ]


async def seed_tokens(settings: Settings, chain: Chain, token: str, invoices: int) -> list[str]:
    """N open invoices in a token of `chain` (USDT on Ethereum, USDC on Solana), in their own database."""
    addresses = (
        [f"0x{n + 1:040x}" for n in range(invoices)] if chain is Chain.eth else [new_pubkey() for _ in range(invoices)]
    )
    asset = Asset(chain, "USDT" if chain is Chain.eth else "USDC", 6, token)
    engine = create_engine(settings.database_url)
    await seed_open_invoices(create_sessionmaker(engine), chain, addresses, first_telegram_id=3_000_000, token=asset)
    await engine.dispose()
    return addresses


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
    parser.add_argument("--only", choices=PARTS, help="one part: a chain's coin, or a token kind")
    args = parser.parse_args(argv)
    n = args.invoices
    parts = [args.only] if args.only else list(PARTS)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-observer-") as tmp:
        settings = shop_settings(sqlite_url(Path(tmp)), Path(tmp) / "no-sol.key")
        if {"esplora", "solana"} & set(parts):
            addresses = asyncio.run(seed(settings, n))
        if "esplora" in parts:
            with double_process("esplora") as esplora:
                assert esplora is not None
                backend: ChainBackend = EsploraBackend(Chain.btc, esplora.url, TIMEOUT)
                rows += asyncio.run(cycle(settings, Chain.btc, backend, esplora, addresses[Chain.btc], 1 + n))
        if "solana" in parts:
            with double_process("solana") as solana:
                assert solana is not None
                backend = SolanaRpcBackend(solana.url, "finalized", TIMEOUT)
                rows += asyncio.run(
                    cycle(settings, Chain.sol, backend, solana, addresses[Chain.sol], math.ceil((n + 1) / BATCH_LIMIT))
                )
        for part, chain, kind in (("erc20", Chain.eth, "anvil"), ("spl", Chain.sol, "solana")):
            if part not in parts:
                continue
            with double_process(kind) as double:
                if double is None:
                    print(f"{part}: anvil is not installed (npm install): no rows")
                    continue
                own = settings.model_copy(update={"database_url": sqlite_url(Path(tmp), f"{part}.db")})
                token_addresses = asyncio.run(seed_tokens(own, chain, double.token, n))
                native: ChainBackend
                token_backend: TokenBackend
                if chain is Chain.eth:
                    native, token_backend = (
                        EvmRpcBackend(double.url, 12, TIMEOUT),
                        Erc20Backend(double.url, 12, TIMEOUT),
                    )
                else:
                    native = SolanaRpcBackend(double.url, "finalized", TIMEOUT)
                    token_backend = SplTokenBackend(double.url, "finalized", TIMEOUT)
                rows += asyncio.run(token_cycles(own, native, token_backend, double, token_addresses))
    return rows


if __name__ == "__main__":
    print_rows(main())
