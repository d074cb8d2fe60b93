"""Reading the PNGs the bot sends (the invoice's QR code)."""

import struct
import zlib


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    """Each chunk's data by its type, in the file's order, IDATs joined; every chunk's CRC checked."""
    chunks: dict[bytes, bytes] = {}
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    return chunks
