"""`python -m bench <name> [options]` runs one benchmark; `python -m bench all` runs every one with its
default sizes (or BENCH_* environment variables) and prints one table. `--help` after a name lists its
options. Figures vary by machine and load: compare each with the reference measured beside it."""

from __future__ import annotations

import hashlib
import sys
import time
import traceback
from collections.abc import Callable

import coincurve

from bench import checkout, dispatch, http_walk, latency, memory, observer, qr, wallet
from bench.common import Row, env_int, print_rows
from models.enums import Chain, Network
from services.wallet.hdwallet import parse_account_key
from tests.keys import BTC_ZPUB


def wallet_rows(argv: list[str]) -> list[Row]:
    """bench/wallet.py's headline row: one BTC address from the xpub beside one G*k."""
    count = int(argv[0]) if argv else env_int("BENCH_WALLET_COUNT", 2000)
    btc = parse_account_key(Chain.btc, Network.mainnet, BTC_ZPUB, "BTC_XPUB")
    secrets = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(count)]
    floor = wallet.per_call_us(lambda i: coincurve.PublicKey.from_secret(secrets[i]), count)
    return [
        Row(
            "BTC address from xpub",
            wallet.per_call_us(btc.address, count),
            "µs/op",
            "coincurve G*k (from_secret)",
            floor,
        )
    ]


BENCHMARKS: dict[str, Callable[[list[str]], list[Row]]] = {
    "wallet": wallet_rows,
    "checkout": checkout.main,
    "dispatch": dispatch.main,
    "qr": qr.main,
    "http": http_walk.main,
    "observer": observer.main,
    "memory": memory.main,
    "latency": latency.main,
}


def run_all() -> int:
    rows: list[Row] = []
    failed = []
    for name, bench in BENCHMARKS.items():
        print(f"--- {name}", flush=True)
        started = time.perf_counter()
        try:
            rows += bench([])
        except Exception:  # one broken benchmark should not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"--- {name}: {time.perf_counter() - started:.0f} s", flush=True)
    print_rows(rows)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {*BENCHMARKS, "all"}:
        print(f"usage: python -m bench {{{','.join(BENCHMARKS)},all}} [options]", file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        return run_all()
    if name == "wallet":  # its own table: every derivation beside the raw secp256k1 work
        wallet.main(int(rest[0]) if rest else 2000)
        return 0
    print_rows(BENCHMARKS[name](rest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
