"""Payment URIs and the QR PNG."""

import io
import struct
import zlib
from collections.abc import Sequence

import pytest
import segno
from PIL import Image

from models.enums import Chain
from services.payments.uri import payment_uri, qr_matrix_png, qr_png
from tests.png import png_chunks

BTC = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
LTC = "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh"
ETH = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
SOL = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
HUGE_WEI = 123_456_789 * 10**30 + 7  # far beyond float precision


def test_uris() -> None:
    assert payment_uri(Chain.btc, BTC, 150_000) == f"bitcoin:{BTC}?amount=0.0015"
    assert payment_uri(Chain.btc, BTC, 1) == f"bitcoin:{BTC}?amount=0.00000001"
    assert payment_uri(Chain.ltc, LTC, 1) == f"litecoin:{LTC}?amount=0.00000001"
    assert payment_uri(Chain.sol, SOL, 1) == f"solana:{SOL}?amount=0.000000001"
    assert payment_uri(Chain.sol, SOL, 2_500_000_000) == f"solana:{SOL}?amount=2.5"
    assert payment_uri(Chain.eth, ETH, 1, eth_chain_id=1) == f"ethereum:{ETH}@1?value=1"
    assert payment_uri(Chain.eth, ETH, HUGE_WEI, eth_chain_id=11155111) == (
        f"ethereum:{ETH}@11155111?value=123456789000000000000000000000000000007"
    )


@pytest.mark.parametrize(
    ("chain", "address", "units", "chain_id"),
    [
        (Chain.btc, BTC, 0, None),
        (Chain.btc, BTC, -5, None),
        (Chain.btc, f"{BTC}?amount=100", 1, None),
        (Chain.btc, "", 1, None),
        (Chain.eth, ETH, 1, None),
        (Chain.eth, ETH, 1, 0),
    ],
)
def test_uri_rejects(chain: Chain, address: str, units: int, chain_id: int | None) -> None:
    with pytest.raises(ValueError):
        payment_uri(chain, address, units, chain_id)


def test_qr_png() -> None:
    uri = payment_uri(Chain.eth, ETH, HUGE_WEI, eth_chain_id=1)
    png = qr_png(uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks = png_chunks(png)
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    qr = segno.make_qr(uri, error="m")
    assert not qr.is_micro
    assert (width, height) == qr.symbol_size(scale=8, border=4)
    assert isinstance(qr.version, int)
    assert width == (17 + 4 * qr.version + 2 * 4) * 8  # modules of the symbol plus the quiet zone, 8 px each
    channels = {0: 1, 3: 1}[colour_type]  # greyscale or palette
    row_bytes = 1 + (width * bit_depth * channels + 7) // 8  # a filter byte, then the pixels
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * row_bytes


@pytest.mark.parametrize(
    "uri",
    [
        "a",
        payment_uri(Chain.btc, BTC, 20_834),
        payment_uri(Chain.ltc, LTC, 123_456_789),
        payment_uri(Chain.sol, SOL, 25_005_002),
        payment_uri(Chain.eth, ETH, HUGE_WEI, eth_chain_id=1),
        payment_uri(Chain.eth, ETH, HUGE_WEI, eth_chain_id=11155111) + "&" + "x" * 300,  # a large version
    ],
)
def test_qr_png_is_segnos_picture_pixel_for_pixel(uri: str) -> None:
    qr = segno.make_qr(uri, error="m")
    for scale, border in ((8, 4), (1, 0), (3, 1), (5, 2)):  # the invoice's; rows that end mid-byte too
        expected = io.BytesIO()
        qr.save(expected, kind="png", scale=scale, border=border)
        ours = qr_png(uri) if (scale, border) == (8, 4) else qr_matrix_png(qr.matrix, scale, border)
        assert picture(ours) == picture(expected.getvalue()), (scale, border)
        assert picture(ours) == drawn(qr.matrix, scale, border), (scale, border)


def test_one_module_flipped_is_another_picture() -> None:
    matrix = [bytearray(row) for row in segno.make_qr(payment_uri(Chain.btc, BTC, 20_834), error="m").matrix]
    before = picture(qr_matrix_png(matrix))
    matrix[10][17] ^= 1
    after = picture(qr_matrix_png(matrix))
    assert after != before
    assert after == drawn(matrix, 8, 4)


def picture(png: bytes) -> tuple[str, tuple[int, int], bytes]:
    """A PNG's mode, size and pixels, decoded by Pillow (not by our writer's rules)."""
    with Image.open(io.BytesIO(png)) as image:
        return image.mode, image.size, image.convert("L").tobytes()


def drawn(matrix: Sequence[bytes | bytearray], scale: int, border: int) -> tuple[str, tuple[int, int], bytes]:
    """The picture of `matrix` pixel by pixel: black (0) for a dark module, white (255) elsewhere."""
    size = (len(matrix) + 2 * border) * scale

    def module(i: int, j: int) -> int:
        inside = 0 <= i < len(matrix) and 0 <= j < len(matrix)
        return matrix[i][j] if inside else 0

    pixels = bytes(
        0 if module(y // scale - border, x // scale - border) else 255 for y in range(size) for x in range(size)
    )
    return "1", (size, size), pixels


def test_short_uri_is_not_micro_qr() -> None:
    png = qr_png("a")
    width = struct.unpack(">I", png_chunks(png)[b"IHDR"][:4])[0]
    assert width == (21 + 8) * 8  # version 1, the smallest full QR code
