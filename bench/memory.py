"""Peak RSS of a real `python -m bot` with a stocked shop and open invoices, beside the same bot on an
empty database.

The shop's SQLite file is bulk-seeded before start (`--units` sealed stock units of one product,
`--invoices` open BTC invoices). The bot polls the HTTP Bot API double, watches BTC through the Esplora
double (both in this process) with OBSERVER_INTERVAL_SECONDS=1, and runs `--cycles` complete observer
cycles and the scan of the next (the double counts `GET /blocks/tip/height`, the last request of each
scan). VmHWM is read from /proc/<pid>/status once the bot answers /healthz (the startup peak: imports
and the scrypt key derivations), then reset through /proc/<pid>/clear_refs, so the VmHWM read after
the cycles is the peak while serving; VmRSS is read then too. The bot runs its loop-lag probe
(LOOP_LAG_PROBE_MS=1), and its longest event-loop stall while serving is read from /metrics at the
end. The empty-database bot runs `--cycles`
+ 2 seconds after startup (it has no invoice to scan, so its cycles are instant and make no requests).

Run: .venv/bin/python -m bench memory [--units N] [--invoices N] [--cycles N]   (defaults 100,000, 500
and 3, to stay near a minute; BENCHMARKS.md records --invoices 10000)
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import Row, env_int, print_rows, seed_catalog, seed_open_invoices, sqlite_url
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from services.wallet.goods import GoodsCipher
from tests.doubles.esplora import EsploraDouble
from tests.doubles.telegram import TelegramDouble
from tests.keys import BTC_ZPUB, WALLET_KEY
from tests.process import bot_process, free_port

TIP = "GET /blocks/tip/height"
STALLS = re.compile(r"^shop_event_loop_(stall|busy_stall)_max_seconds ([0-9.e+-]+)$", re.MULTILINE)


def reset_peak(pid: int) -> None:
    """Set VmHWM back to the current RSS (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a live process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


async def seed(url: str, units: int, invoices: int) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    await seed_catalog(sessions, units, GoodsCipher(WALLET_KEY))
    await seed_open_invoices(
        sessions, Chain.btc, [f"bc1qbench{n:033d}" for n in range(invoices)], first_telegram_id=1_000_000
    )
    await engine.dispose()


async def longest_stalls_ms(port: int) -> dict[str, float]:
    """The bot's longest event-loop stalls since start, from its /metrics: {"stall": wall time, "busy_stall":
    counting only the loop thread's CPU}."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        found = {name: float(value) * 1000 for name, value in STALLS.findall(await response.text())}
    if len(found) != 2:
        raise RuntimeError("/metrics has no shop_event_loop_*_max_seconds: is LOOP_LAG_PROBE_MS set?")
    return found


async def run_bot(
    url: str, tmp: Path, name: str, cycles: int, min_seconds: float
) -> tuple[dict[str, int], float, dict[str, float]]:
    """Start the bot on `url`, wait for `cycles` complete cycles and at least `min_seconds`;
    ({"startup": VmHWM at startup, "VmHWM": peak since, "VmRSS": ...} in KiB, seconds waited,
    the longest event-loop stalls in ms)."""
    port = free_port()
    async with TelegramDouble() as telegram:
        esplora = EsploraDouble()
        env = {
            **telegram.env(),
            "DATABASE_URL": url,
            "BTC_XPUB": BTC_ZPUB,
            "BTC_ESPLORA_URL": await esplora.start(),
            "OBSERVER_INTERVAL_SECONDS": "1",
            "RATES_FIXED": "BTC=60000",
            "WALLET_KEY": WALLET_KEY,
            "SOL_KEY_FILE": str(tmp / "no-sol.key"),
            "LOG_LEVEL": "WARNING",
            "PROCESSING_PORT": str(port),
            "LOOP_LAG_PROBE_MS": "1",
        }
        try:
            log = tmp / f"{name}.log"
            async with bot_process(env, log) as bot:
                startup = memory_kib(bot.pid)["VmHWM"]
                reset_peak(bot.pid)
                started, scans = time.perf_counter(), cycles + 1 if cycles else 0
                while esplora.requests.count(TIP) < scans or time.perf_counter() - started < min_seconds:
                    if bot.returncode is not None:
                        raise RuntimeError(f"the bot exited with {bot.returncode}:\n{log.read_text()[-2000:]}")
                    await asyncio.sleep(0.2)
                memory, waited = memory_kib(bot.pid), time.perf_counter() - started
                return {"startup": startup, **memory}, waited, await longest_stalls_ms(port)
        finally:
            await esplora.stop()


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=env_int("BENCH_MEMORY_UNITS", 100_000))
    parser.add_argument("--invoices", type=int, default=env_int("BENCH_MEMORY_INVOICES", 500))
    parser.add_argument("--cycles", type=int, default=env_int("BENCH_MEMORY_CYCLES", 3))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name:
        tmp = Path(name)
        seeded, empty = sqlite_url(tmp, "seeded.db"), sqlite_url(tmp, "empty.db")
        asyncio.run(seed(seeded, args.units, args.invoices))
        full, waited, full_stall = asyncio.run(run_bot(seeded, tmp, "seeded", args.cycles, 0))
        print(f"seeded bot: {args.cycles} observer cycles over {args.invoices:,} invoices in {waited:.0f} s")
        bare, _, bare_stall = asyncio.run(run_bot(empty, tmp, "empty", 0, args.cycles + 2))
    shop = f"{args.units // 1000}k units, {args.invoices:,} invoices"
    return [
        Row(f"bot VmHWM at startup, {shop}", full["startup"] / 1024, "MiB", "same, empty DB", bare["startup"] / 1024),
        Row(
            "bot VmHWM while serving (after startup)",
            full["VmHWM"] / 1024,
            "MiB",
            "same, empty DB",
            bare["VmHWM"] / 1024,
        ),
        Row("bot VmRSS after the cycles", full["VmRSS"] / 1024, "MiB", "same, empty DB", bare["VmRSS"] / 1024),
        Row(
            "bot's longest event-loop stall while serving",
            full_stall["stall"],
            "ms",
            "same, empty DB",
            bare_stall["stall"],
        ),
        Row(
            "the same, the loop thread's CPU only",
            full_stall["busy_stall"],
            "ms",
            "same, empty DB",
            bare_stall["busy_stall"],
        ),
    ]


if __name__ == "__main__":
    print_rows(main())
