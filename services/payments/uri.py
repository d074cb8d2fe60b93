"""Payment URIs and their QR codes. Integer base units in, text out; no float anywhere."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

from models.chains import CHAINS
from models.enums import Chain
from services.money import Unit, asset_of, format_amount
from services.payments.qr_mask import qr_matrix
from services.wallet.hdwallet import canonical_address


def payment_uri(unit: Unit, address: str, base_units: int, eth_chain_id: int | None = None) -> str:
    """The URI a wallet opens to pay `base_units` of a coin or token to `address`.

    btc/ltc: BIP21 (bitcoin:/litecoin:, amount in coins); eth: EIP-681 (ethereum:addr@chainId, value in
    wei as a plain integer); an ERC-20 token: EIP-681's transfer call on the contract
    (ethereum:contract@chainId/transfer?address=to&uint256=amount in base units); sol: Solana Pay
    (solana:, amount in SOL), with spl-token=mint for a token (amount in the token's units; the wallet pays
    the owner's associated token account). Raises ValueError on an amount below 1, an address with URI
    syntax in it, or eth without eth_chain_id.
    """
    if base_units < 1:
        raise ValueError(f"amount must be positive: {base_units}")
    asset = asset_of(unit)
    for text in (address, asset.token or address):  # every address we make is base58, bech32 or 0x-hex
        if not text.isascii() or not text.isalnum():
            raise ValueError(f"not an address: {text!r}")
    scheme = CHAINS[asset.chain].uri_scheme
    if asset.chain is Chain.eth:
        if eth_chain_id is None or eth_chain_id < 1:
            raise ValueError("an ethereum: URI needs the chain id")
        if asset.token is not None:
            contract = canonical_address(Chain.eth, asset.token)
            return f"{scheme}:{contract}@{eth_chain_id}/transfer?address={address}&uint256={base_units}"
        return f"{scheme}:{address}@{eth_chain_id}?value={base_units}"
    uri = f"{scheme}:{address}?amount={format_amount(asset, base_units)}"
    return uri if asset.token is None else f"{uri}&spl-token={asset.token}"


QR_SCALE = 8  # pixels per module
QR_BORDER = 4  # the standard quiet zone, in modules
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# zlib's fastest level: 0.02 ms where segno's 9 takes 0.8-2 ms, for about 300 more bytes of a 0.8 KB upload
PNG_LEVEL = 1
_PIXEL_BITS = bytes.maketrans(b"\0\1", b"10")  # a module (dark 1) as its pixels' bit (dark 0)
_PIXEL_BYTE = bytes.maketrans(b"\0\1", b"\xff\0")  # at 8 px a module is one byte of pixels


def qr_png(uri: str) -> bytes:
    """A PNG QR code of `uri` (never a Micro QR, which phone scanners do not read), at 8 px per module
    with the standard 4-module quiet zone so it scans from a Telegram photo: segno's symbol, its mask chosen
    by qr_mask (segno's own choice takes 4/5 of the time)."""
    return qr_matrix_png(qr_matrix(uri))


def qr_matrix_png(matrix: Sequence[bytes | bytearray], scale: int = QR_SCALE, border: int = QR_BORDER) -> bytes:
    """The picture segno's `save(kind="png")` writes for a black-on-white symbol, pixel for pixel (the tests
    decode both), without its pixel-by-pixel generators: a 1-bit greyscale image (dark 0, light 1), each
    module row one packed scanline followed by scale - 1 "Up" scanlines of zeros, deflated at PNG_LEVEL."""
    size = len(matrix) + 2 * border
    width = size * scale
    pad = -width % 8  # the last byte of a scanline is filled with 0 bits
    light, dark = b"1" * scale, b"0" * scale  # a module's pixels
    quiet, end = light * border, light * border + b"0" * pad
    quiet_bytes = b"\xff" * border

    def scanline(modules: bytes | bytearray) -> bytes:
        if scale == 8:  # the invoice's: each module one byte, the row one translation (a third of the time)
            return b"\0" + quiet_bytes + modules.translate(_PIXEL_BYTE) + quiet_bytes
        # light and dark as "1" and "0", then each widened to its pixels (the widened light has no "0")
        pixels = modules.translate(_PIXEL_BITS).replace(b"1", light).replace(b"0", dark)
        return b"\0" + int(quiet + pixels + end, 2).to_bytes((width + pad) // 8, "big")

    blank = scanline(bytes(len(matrix))) * (border * scale)
    up = (b"\2" + bytes((width + pad) // 8)) * (scale - 1)
    rows = b"".join(scanline(row) + up for row in matrix)
    header = struct.pack(">2I5B", width, width, 1, 0, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(blank + rows + blank, PNG_LEVEL)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
