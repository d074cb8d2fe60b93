"""The QR symbol segno.make_qr(text, error="m") makes, module for module, with its data mask chosen fast.

segno tries all 8 data masks (ISO/IEC 18004 7.8) and scores each candidate cell by cell in Python: about
5 of its 6 ms for a payment URI. Here segno encodes once with mask 0; its data modules are unmasked and the
8 candidates scored on the whole matrix as one int (a bit per module, dark 1, each row followed by 4 light
bits of gap), with shifts, AND/OR/XOR and int.bit_count, which run in C. The winner is the mask-0 symbol
with two layers XORed in: the two masks over the data modules, and the two format informations.

`penalty` mirrors segno 1.6.6's `mask_scores` (its reading of the N3 rule included) and the layers come
from segno.encoder's private helpers, so both are used only with the segno in TESTED_WITH; with another,
segno chooses the mask itself, with a warning (tests/test_qr_mask.py fails then).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import segno
import segno.encoder

log = logging.getLogger(__name__)
encoder: Any = segno.encoder  # untyped; its private helpers, read with TESTED_WITH's version
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
    version, error level and mask, chosen by the same penalties with the same tie-break (the lowest mask)."""
    if not _WRITTEN_FOR_INSTALLED:
        return tuple(bytes(row) for row in segno.make_qr(text, error="m").matrix)
    first = segno.make_qr(text, error="m", mask=0)
    layers = layers_for(first.version)
    masked = to_bits(first.matrix)
    # segno scores a candidate before it writes format and version information: those modules are light
    unmasked = layers.function | ((masked & layers.data) ^ layers.masks[0])
    # min keeps the first of equal scores, as segno keeps a mask only if it scores strictly lower
    best = min(range(len(layers.masks)), key=lambda k: penalty(unmasked ^ layers.masks[k], layers))
    error = encoder.normalize_errorlevel(first.error)
    symbol = masked ^ layers.masks[0] ^ layers.masks[best]
    symbol ^= _format(first.version, error, 0) ^ _format(first.version, error, best)
    return _from_bits(symbol, layers)


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

    def ahead(bits: int, k: int) -> int:  # module i + k, at i
        return bits << k * step

    pattern = (
        dark & ahead(light, 1) & ahead(dark, 2) & ahead(dark, 3) & ahead(dark, 4) & ahead(light, 5) & ahead(dark, 6)
    )
    dark_before = (dark >> step) | (dark >> 2 * step) | (dark >> 3 * step) | (dark >> 4 * step)
    dark_after = ahead(dark, 7) | ahead(dark, 8) | ahead(dark, 9) | ahead(dark, 10)
    counted = pattern & ~(dark_before & dark_after)
    return counted.bit_count() - (counted & (ahead(counted, 4) | ahead(counted, 6))).bit_count()


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
def _format(version: int, error: int, mask: int) -> int:
    """The format information of a symbol with this mask (and the dark module, the same in every mask)."""
    n = encoder.calc_matrix_size(version)
    matrix = tuple(bytearray(n) for _ in range(n))
    encoder.add_format_info(matrix, version, error, mask)
    return to_bits(matrix)


_WRITTEN_FOR_INSTALLED = installed_versions() == TESTED_WITH
if not _WRITTEN_FOR_INSTALLED:
    log.warning(
        "segno %s differs from %s, which services.payments.qr_mask was written for: segno chooses QR masks",
        installed_versions(),
        TESTED_WITH,
    )
