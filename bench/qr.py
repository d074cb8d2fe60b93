"""The invoice's QR code beside segno's own: the symbol with its mask chosen by services/payments/qr_mask,
and the PNG the pay step sends, against segno.make_qr(uri, error="m") encoding and choosing the mask itself (the
PNG's reference goes through the same writer, so it moves with the writer: compare it with main's run).

Each figure is the median of `--rounds` rounds, each encoding every payment URI below `--calls` times, the
two sides alternating round by round so that both meet the same load.

Run: .venv/bin/python -m bench qr [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import segno

from bench.common import Row
from models.chains import Asset
from models.enums import Chain
from services.payments.qr_mask import qr_matrix
from services.payments.uri import payment_uri, qr_matrix_png, qr_png

URIS = (
    payment_uri(Chain.btc, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 150_001),
    payment_uri(Chain.ltc, "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh", 123_456_789),
    payment_uri(Chain.eth, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", 49_971_000_000_000_000, 1),
    payment_uri(
        Asset(Chain.eth, "USDT", 6, "0xdac17f958d2ee523a2206206994597c13d831ec7"),
        "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
        25_005_002,
        1,
    ),
    payment_uri(Chain.sol, "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk", 2_500_000_000),
)


def segnos_png(uri: str) -> bytes:
    """segno's own symbol (segno encodes and chooses the mask) through the pay step's PNG writer."""
    return qr_matrix_png(segno.make_qr(uri, error="m").matrix)


def ms_per_call(
    ours: Callable[[str], object], theirs: Callable[[str], object], calls: int, rounds: int
) -> tuple[float, float]:
    times: dict[bool, list[float]] = {True: [], False: []}
    for n in range(rounds * 2):
        mine = (n % 2 == 0) == (n // 2 % 2 == 0)  # on, off, off, on, ...: neither always first
        encode = ours if mine else theirs
        started = time.process_time()
        for uri in URIS:
            for _ in range(calls):
                encode(uri)
        times[mine].append((time.process_time() - started) / (calls * len(URIS)) * 1e3)
    return statistics.median(times[True]), statistics.median(times[False])


def main(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="bench qr")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    symbol, segnos_symbol = ms_per_call(qr_matrix, lambda uri: segno.make_qr(uri, error="m"), args.calls, args.rounds)
    png, segnos = ms_per_call(qr_png, segnos_png, args.calls, args.rounds)
    return [
        Row("QR symbol, mask by qr_mask, CPU ms/call", symbol, "ms", "segno.make_qr choosing the mask", segnos_symbol),
        Row("invoice QR PNG (qr_png) CPU ms/call", png, "ms", "same PNG, segno choosing the mask", segnos),
    ]
