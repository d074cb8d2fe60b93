"""Payment URIs and their QR codes. Integer base units in, text out; no float anywhere."""

from __future__ import annotations

import io

import segno

from models.chains import CHAINS
from models.enums import Chain
from services.money import format_amount


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
    scheme = CHAINS[chain].uri_scheme
    if chain is Chain.eth:
        if eth_chain_id is None or eth_chain_id < 1:
            raise ValueError("an ethereum: URI needs the chain id")
        return f"{scheme}:{address}@{eth_chain_id}?value={base_units}"
    return f"{scheme}:{address}?amount={format_amount(chain, base_units)}"


def qr_png(uri: str) -> bytes:
    """A PNG QR code of `uri` (never a Micro QR, which phone scanners do not read), at 8 px per module
    with the standard 4-module quiet zone so it scans from a Telegram photo."""
    out = io.BytesIO()
    segno.make_qr(uri, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()
