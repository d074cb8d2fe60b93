"""Exact amounts, payment URIs and their QR codes. Integer base units in, text out; no float anywhere."""

from __future__ import annotations

import io

import segno

from models.enums import Chain

DECIMALS: dict[Chain, int] = {Chain.btc: 8, Chain.ltc: 8, Chain.eth: 18, Chain.sol: 9}


def format_amount(chain: Chain, base_units: int) -> str:
    """Base units as a plain decimal in whole coins, trailing zeros stripped: 150000 sat -> "0.0015",
    10**8 sat -> "1", 0 -> "0". Never scientific notation. Raises ValueError on a negative amount."""
    if base_units < 0:
        raise ValueError(f"negative amount: {base_units}")
    decimals = DECIMALS[chain]
    whole, frac = divmod(base_units, 10**decimals)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0")


def payment_uri(chain: Chain, address: str, base_units: int, eth_chain_id: int | None = None) -> str:
    """The URI a wallet opens to pay `base_units` to `address`.

    btc/ltc: BIP21 (bitcoin:/litecoin:, amount in coins); eth: EIP-681 (ethereum:addr@chainId, value in
    wei as a plain integer); sol: Solana Pay (solana:, amount in SOL). Raises ValueError on an amount
    below 1, an address with URI syntax in it, or eth without eth_chain_id.
    """
    if base_units < 1:
        raise ValueError(f"amount must be positive: {base_units}")
    if not address.isascii() or not address.isalnum():  # every address we make is base58, bech32 or 0x-hex
        raise ValueError(f"not an address: {address!r}")
    if chain is Chain.eth:
        if eth_chain_id is None or eth_chain_id < 1:
            raise ValueError("an ethereum: URI needs the chain id")
        return f"ethereum:{address}@{eth_chain_id}?value={base_units}"
    scheme = {Chain.btc: "bitcoin", Chain.ltc: "litecoin", Chain.sol: "solana"}[chain]
    return f"{scheme}:{address}?amount={format_amount(chain, base_units)}"


def qr_png(uri: str) -> bytes:
    """A PNG QR code of `uri` (never a Micro QR, which phone scanners do not read), at 8 px per module
    with the standard 4-module quiet zone so it scans from a Telegram photo."""
    out = io.BytesIO()
    segno.make_qr(uri, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()
