"""The QR symbol segno.make_qr(text, error="m") makes, module for module, encoded and its data mask chosen fast.

segno tries all 8 data masks (ISO/IEC 18004 7.8) and scores each candidate cell by cell in Python: about
5 of its 6 ms for a payment URI; of the rest, its Reed-Solomon division, codeword placement and masking,
also cell by cell, took about 1 ms. Here segno's own steps make the data codewords (mode, version, error
level, padding), except a byte-mode segment's bits (a payment URI's), which segno appends one by one; the
error correction is a table-driven division on one int per block, and the message's bits go to their
modules by one itemgetter per version (the order segno's add_codewords gives). The symbol
is one int (a bit per module, dark 1, each row followed by 4 light bits of gap), so the 8 candidates are
scored with shifts, AND/OR/XOR and int.bit_count, which run in C, and the winner is the unmasked symbol
with its mask's layer and its format and version information XORed in.

`penalty` mirrors segno 1.6.6's `mask_scores` (its reading of the N3 rule included), `_data_codewords` its
`_encode`'s first half, and the layers come from segno.encoder's private helpers, so all are used only with
the segno in TESTED_WITH; with another, segno encodes and chooses the mask itself, with a warning
(tests/test_qr_mask.py fails then).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any

import segno
import segno.consts
import segno.encoder

log = logging.getLogger(__name__)
encoder: Any = segno.encoder  # untyped; its private helpers, read with TESTED_WITH's version
consts: Any = segno.consts
TESTED_WITH = {"segno": "1.6.6"}
GAP = 4  # light bits after each row: N3 looks 4 modules past a line's ends and must see no other line
_TO_BITS = bytes.maketrans(b"\0\1", b"01")
_FROM_BITS = bytes.maketrans(b"01", b"\0\1")


def installed_versions() -> dict[str, str]:
    return {"segno": segno.__version__}


@dataclass(frozen=True, slots=True)
class Layers:
    """What every symbol of one version shares, each an int over the symbol's bits (see the module doc)."""

    size: int  # modules per row and column
    function: int  # the finder, separator, timing and alignment patterns' dark modules
    data: int  # the data modules: the ones a mask changes
    masks: tuple[int, ...]  # each mask's pattern over the data modules
    modules: int  # every module (not the gaps)
    has_left: int  # the modules with a module to their left
    has_above: int  # the modules with a module above them
    blocks: int  # the modules with both: N2's 2x2 blocks end there

    @property
    def stride(self) -> int:
        return self.size + GAP


def qr_matrix(text: str) -> tuple[bytes, ...]:
    """The module rows of `segno.make_qr(text, error="m")` (1 dark, 0 light), the same symbol: the same
    version, error level, codewords and mask, chosen by the same penalties with the same tie-break (the
    lowest mask)."""
    if not _WRITTEN_FOR_INSTALLED:
        return tuple(bytes(row) for row in segno.make_qr(text, error="m").matrix)
    version, error, data = _data_codewords(text)
    layers = layers_for(version)
    symbol = unmasked(version, error, data)
    # min keeps the first of equal scores, as segno keeps a mask only if it scores strictly lower
    best = min(range(len(layers.masks)), key=lambda k: penalty(symbol ^ layers.masks[k], layers))
    return _from_bits(symbol ^ layers.masks[best] ^ _information(version, error, best), layers)


def _data_codewords(text: str) -> tuple[int, int, bytes]:
    """The version, the error level (M, boosted where the version has room) and the data codewords of
    segno's make_qr(text, error="m"), by segno's own steps (encoder.encode and _encode's first half)."""
    segments = _segments(text)
    version = encoder.find_version(segments, consts.ERROR_LEVEL_M, eci=False, micro=False)
    error = encoder.boost_error_level(version, consts.ERROR_LEVEL_M, segments, False)
    buffer = encoder.Buffer()
    for segment in segments:
        encoder.write_segment(buffer, segment, None, encoder.version_range(version), False)
    capacity = consts.SYMBOL_CAPACITY[version][error]
    encoder.write_terminator(buffer, capacity, None, len(buffer))
    encoder.write_padding_bits(buffer, version, len(buffer))
    encoder.write_pad_codewords(buffer, version, capacity, len(buffer))
    bits = bytes(buffer.getbits()).translate(_TO_BITS)
    return version, error, int(bits, 2).to_bytes(len(bits) // 8, "big")


def _segments(text: str) -> Any:
    """segno's prepare_data(text, None, None): the text as one segment. A byte-mode one (every payment URI:
    it has lower-case letters) is its bytes' bits, made at once here where segno appends them bit by bit."""
    data, length, encoding = encoder.data_to_bytes(text, None)
    if not length or encoder.find_mode(data) != consts.MODE_BYTE:
        return encoder.prepare_data(text, None, None)
    bits = format(int.from_bytes(data, "big"), f"0{8 * length}b").encode().translate(_FROM_BITS)
    segments = encoder.Segments()
    segments.add_segment(encoder._Segment(bytearray(bits), length, consts.MODE_BYTE, encoding))
    return segments


def unmasked(version: int, error: int, data: bytes) -> int:
    """The symbol segno masks and scores: the function patterns, the data codewords and their error
    correction placed in the data modules; the format and version information not yet written (light)."""
    return layers_for(version).function | _placed(version, _with_error_correction(data, version, error))


def _with_error_correction(data: bytes, version: int, error: int) -> bytes:
    """The final message (ISO/IEC 18004 7.6), as segno's make_final_message: the data split into blocks in
    order (segno ignores codewords past them), each block's Reed-Solomon codewords, both interleaved."""
    data_blocks, ec_blocks = [], []
    start = 0
    for info in consts.ECC[version][error]:
        for _ in range(info.num_blocks):
            block = data[start : start + info.num_data]
            start += info.num_data
            data_blocks.append(block)
            ec_blocks.append(_reed_solomon(block, info.num_total - info.num_data))
    return _interleaved(data_blocks) + _interleaved(ec_blocks)


def _interleaved(blocks: Sequence[bytes]) -> bytes:
    """The first codeword of each block, then the second, ...; a shorter block is left out once it ends."""
    count, shortest = len(blocks), min(map(len, blocks))
    columns = bytearray(count * shortest)  # while every block has a codeword: block k's at k, k + count, ...
    for k, block in enumerate(blocks):
        columns[k::count] = block[:shortest]
    rest = (block[i] for i in range(shortest, max(map(len, blocks))) for block in blocks if i < len(block))
    return bytes(columns) + bytes(rest)


def _reed_solomon(block: bytes, length: int) -> bytes:
    """The block's `length` error correction codewords: the remainder of its division by the generator
    polynomial, a codeword per step, the remainder held as one int (its first codeword the highest byte)."""
    products = _generator_products(length)
    first, width = 8 * (length - 1), (1 << 8 * length) - 1
    remainder = 0
    for codeword in block:
        remainder = ((remainder << 8) & width) ^ products[(remainder >> first) ^ codeword]
    return remainder.to_bytes(length, "big")


@cache
def _generator_products(length: int) -> tuple[int, ...]:
    """For each codeword value c, c times the generator polynomial of `length` error codewords (its leading
    1 left out) in GF(256), the coefficients as one int, as segno multiplies: exp[log c + log g]."""
    log, exp, generator = consts.GALIOS_LOG, consts.GALIOS_EXP, consts.GEN_POLY[length]
    return (0, *(int.from_bytes(bytes(exp[log[c] + g] for g in generator), "big") for c in range(1, 256)))


def _placed(version: int, message: bytes) -> int:
    """The message's bits in the data modules (the rest 0, as the remainder bits are), as one int."""
    bits = format(int.from_bytes(message, "big"), f"0{8 * len(message)}b").encode()
    modules, order = _placement(version)
    return int(bytes(order(bits.ljust(modules + 1, b"0"))), 2)


@cache
def _placement(version: int) -> tuple[int, Callable[[bytes], tuple[int, ...]]]:
    """The number of data modules, and a getter that takes the i-th character of a text for each bit of the
    symbol (GAP included) that is the i-th data module in segno's placement order (7.7.3), and the
    character past the modules for every other bit. segno's add_codewords places the indices itself."""
    n = encoder.calc_matrix_size(version)
    matrix = encoder.make_matrix(n, n)
    encoder.add_finder_patterns(matrix, n, n)
    encoder.add_alignment_patterns(matrix, n, n)
    modules = sum(row.count(2) for row in matrix)
    rows = [list(row) for row in matrix]
    first = 3  # above 0, 1 and 2 (a free data module), so that each index is told from those
    encoder.add_codewords(rows, range(first, first + modules), version)
    gap = [modules] * GAP
    return modules, itemgetter(
        *(i for row in rows for i in (*(v - first if v >= first else modules for v in row), *gap))
    )


def penalty(matrix: int, layers: Layers) -> int:
    """segno's evaluate_mask of a candidate matrix: N1 (runs of one colour), N2 (2x2 blocks), N3 (finder-like
    patterns, as segno finds them) and N4 (the dark proportion), over rows and columns."""
    row, column = 1, layers.stride  # how far a module's left and upper neighbours are
    light = ~matrix & layers.modules
    left_differs = matrix ^ (matrix >> row)
    above_differs = matrix ^ (matrix >> column)
    n1 = _runs(~left_differs & layers.has_left, row) + _runs(~above_differs & layers.has_above, column)
    mixed = left_differs | above_differs | (above_differs >> row)
    n2 = 3 * (layers.blocks.bit_count() - (mixed & layers.blocks).bit_count())
    n3 = 40 * (_finder_like(matrix, light, row) + _finder_like(matrix, light, column))
    percent = float(matrix.bit_count()) / (layers.size**2)
    n4 = 10 * int(abs(percent * 100 - 50) / 5)
    return n1 + n2 + n3 + n4


def _runs(same: int, step: int) -> int:
    """N1 from `same`, the modules of the colour of the one `step` bits before them in their line: a run of
    L >= 5 modules scores L - 2, that is 1 for each of its L - 4 modules that end five of one colour and 2
    more for the first of them."""
    five = same & (same >> step) & (same >> 2 * step) & (same >> 3 * step)
    return five.bit_count() + 2 * (five & ~(five >> step)).bit_count()


def _finder_like(dark: int, light: int, step: int) -> int:
    """segno's N3 count along lines `step` bits apart. Its scan counts a 1011101 that touches an end of its
    line or has no dark module among the 4 before or after it (fewer at the line's end), then goes on
    after it; one that does not count, it passes by 4 modules only. So its count is the qualified patterns,
    less those that overlap a counted one (4 or 6 modules on, the only overlaps): such a pair has a
    pattern's dark modules in both its inner windows, so neither pattern is also half of another pair.
    Bit i of `pattern` is the pattern starting at module i. A pattern's own modules are never in a gap;
    its windows may be, or past the symbol's edge, where there is no dark module: as segno's shorter
    windows at a line's ends."""
    # `x << k * step` is module i + k at i; the windows are ORs of shifts of two, then four, modules at once.
    pattern = (
        dark
        & (light << step)
        & (dark << 2 * step)
        & (dark << 3 * step)
        & (dark << 4 * step)
        & (light << 5 * step)
        & (dark << 6 * step)
    )
    two = dark | (dark << step)  # a dark module at i or i + 1
    four = two | (two << 2 * step)  # one of i … i + 3
    dark_before, dark_after = four >> 4 * step, four << 7 * step  # one of i - 4 … i - 1, one of i + 7 … i + 10
    counted = pattern & ~(dark_before & dark_after)
    return counted.bit_count() - (counted & ((counted << 4 * step) | (counted << 6 * step))).bit_count()


def to_bits(rows: Sequence[bytes | bytearray]) -> int:
    """Rows of modules (1 dark, 0 light) as one int: a bit per module, the first row's first module the
    highest, each row followed by GAP zero bits."""
    gap = b"\0" * GAP
    return int((gap.join(rows) + gap).translate(_TO_BITS), 2)


def _from_bits(bits: int, layers: Layers) -> tuple[bytes, ...]:
    n, stride = layers.size, layers.stride
    modules = format(bits, f"0{n * stride}b").encode().translate(_FROM_BITS)
    return tuple(modules[start : start + n] for start in range(0, n * stride, stride))


@cache
def layers_for(version: int) -> Layers:
    """The layers of a symbol of this version, from the function patterns segno lays before the data."""
    n = encoder.calc_matrix_size(version)
    function = encoder.make_matrix(n, n)
    encoder.add_finder_patterns(function, n, n)
    encoder.add_alignment_patterns(function, n, n)
    patterns = encoder.get_data_mask_functions(False)

    def layer(module: Callable[[int, int], object]) -> int:
        return to_bits([bytes(bool(module(i, j)) for j in range(n)) for i in range(n)])

    def is_data(i: int, j: int) -> bool:  # what segno's find_and_apply_best_mask masks
        return bool(function[i][j] == 2)

    def masked_by(pattern: Callable[[int, int], bool]) -> Callable[[int, int], bool]:
        return lambda i, j: is_data(i, j) and pattern(i, j)

    return Layers(
        size=n,
        function=layer(lambda i, j: not is_data(i, j) and function[i][j]),
        data=layer(is_data),
        masks=tuple(layer(masked_by(pattern)) for pattern in patterns),
        modules=layer(lambda i, j: True),
        has_left=layer(lambda i, j: j > 0),
        has_above=layer(lambda i, j: i > 0),
        blocks=layer(lambda i, j: i > 0 and j > 0),
    )


@cache
def _information(version: int, error: int, mask: int) -> int:
    """The format information of a symbol with this mask (and the dark module, the same in every mask) and
    its version information (from version 7 on)."""
    n = encoder.calc_matrix_size(version)
    matrix = tuple(bytearray(n) for _ in range(n))
    encoder.add_format_info(matrix, version, error, mask)
    encoder.add_version_info(matrix, version)
    return to_bits(matrix)


_WRITTEN_FOR_INSTALLED = installed_versions() == TESTED_WITH
if not _WRITTEN_FOR_INSTALLED:
    log.warning(
        "segno %s differs from %s, which services.payments.qr_mask was written for: segno chooses QR masks",
        installed_versions(),
        TESTED_WITH,
    )
