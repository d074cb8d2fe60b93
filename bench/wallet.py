"""Cost of deriving one receive address, next to the raw secp256k1 work it contains.

Run: .venv/bin/python -m bench.wallet [count]. Prints figures only; timings vary by machine.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable

import coincurve
from bip_utils import Bip32Secp256k1, Bip39SeedGenerator

from models.enums import Chain, Network
from services.wallet.hdwallet import SolAccountNode, parse_account_key

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"


def per_call_us(fn: Callable[[int], object], count: int) -> float:
    """Best of three runs over indices 0..count-1, in µs per call (the best run has the least noise)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(count):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return best / count * 1e6


def main(count: int = 2000) -> None:
    root = Bip32Secp256k1.FromSeed(Bip39SeedGenerator(MNEMONIC).Generate())
    btc = parse_account_key(
        Chain.btc, Network.mainnet, root.DerivePath("m/84'/0'/0'").PublicKey().ToExtended(), "BTC_XPUB"
    )
    eth = parse_account_key(
        Chain.eth, Network.mainnet, root.DerivePath("m/44'/60'/0'").PublicKey().ToExtended(), "ETH_XPUB"
    )
    sol = SolAccountNode.from_mnemonic(MNEMONIC)

    # The floor: one point multiplication G*k, and G*k + P (what a BIP32 public child step costs).
    secrets = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(count)]
    parent = coincurve.PublicKey.from_secret(secrets[0])
    floor = per_call_us(lambda i: coincurve.PublicKey.from_secret(secrets[i]), count)
    rows = [
        ("coincurve G*k (from_secret)", floor),
        ("coincurve G*k + P (add)", per_call_us(lambda i: parent.add(secrets[i]), count)),
        ("BTC address from xpub", per_call_us(btc.address, count)),
        ("ETH address from xpub", per_call_us(eth.address, count)),
        ("SOL address from node", per_call_us(sol.address, count)),
    ]
    print(f"{count} indices each, best of 3, coincurve {coincurve.__version__}")
    print(f"{'operation':<30}{'µs/op':>10}{'× G*k':>9}")
    for name, us in rows:
        print(f"{name:<30}{us:>10.1f}{us / floor:>9.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
