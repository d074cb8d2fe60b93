"""The QR mask chosen fast: the symbol is segno's own, module for module, for every text we encode."""

import random
import string
from typing import Any

import pytest
import segno
import segno.consts
import segno.encoder

from models.chains import Asset
from models.enums import Chain
from services.payments import qr_mask
from services.payments.qr_mask import (
    TESTED_WITH,
    installed_versions,
    layers_for,
    penalty,
    qr_matrix,
    to_bits,
    unmasked,
)
from services.payments.uri import payment_uri

encoder: Any = segno.encoder  # untyped
consts: Any = segno.consts

ADDRESSES: dict[Chain, tuple[str, ...]] = {
    Chain.btc: (
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",  # bech32
        "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",  # bech32m, taproot
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",  # base58 P2PKH
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",  # base58 P2SH
    ),
    Chain.ltc: ("ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh", "LaMT348PWRnrqeeWArpwQPbuanpXDZGEUz"),
    Chain.eth: ("0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "0x0000000000000000000000000000000000000001"),
    Chain.sol: ("HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk", "11111111111111111111111111111112"),
}
TOKENS = (
    Asset(Chain.eth, "USDT", 6, "0xdac17f958d2ee523a2206206994597c13d831ec7"),
    Asset(Chain.sol, "USDC", 6, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
)


def payment_uris() -> list[str]:
    """Every URI shape we make, with amounts of every length, round or ragged (0.0015 or 0.00150001)."""
    rnd = random.Random(18)
    uris = []
    units: tuple[Chain | Asset, ...] = (*Chain, *TOKENS)
    for unit in units:
        chain = unit if isinstance(unit, Chain) else unit.chain
        for address in ADDRESSES[chain]:
            for chain_id in (1, 11155111) if chain is Chain.eth else (None,):
                for digits in range(1, 40 if chain is Chain.eth else 20):
                    low = 10 ** (digits - 1)
                    uris.append(payment_uri(unit, address, rnd.choice((low, rnd.randrange(low, 10 * low))), chain_id))
    return uris


def random_texts() -> list[str]:
    """Texts in each mode segno picks (numeric, alphanumeric, bytes; a few UTF-8 and kanji), sized for every
    version up to 22 at error level M (boosted levels on the way), more of the small versions."""
    rnd = random.Random(1806)
    alphanumeric = string.digits + string.ascii_uppercase + " $%*+-./:"
    bits_per_char = {string.digits: 10 / 3, alphanumeric: 11 / 2, string.printable: 8}
    texts = []
    for version in range(1, 23):
        low, high = (consts.SYMBOL_CAPACITY[v][consts.ERROR_LEVEL_M] - 20 for v in (version - 1 or 1, version))
        for alphabet, bits in bits_per_char.items():
            for _ in range(6 if version <= 10 else 1):
                length = max(1, int(rnd.randint(low, high) / bits))
                texts.append("".join(rnd.choice(alphabet) for _ in range(length)))
    return [*texts, "zahlen bitte: 5 €", "支払い", "ＱＲコード" * 9]


def test_the_installed_segno_is_the_one_the_mask_choice_was_written_for() -> None:
    """qr_mask mirrors segno's scoring and uses its private helpers: after an upgrade, read encoder.py's
    mask_scores and find_and_apply_best_mask again and move TESTED_WITH."""
    assert installed_versions() == TESTED_WITH


def test_the_symbol_is_segnos_for_every_uri_shape_and_version() -> None:
    texts = payment_uris() + random_texts()
    versions, masks = set(), set()
    for text in texts:
        expected = segno.make_qr(text, error="m")
        versions.add(expected.version)
        masks.add(expected.mask)
        assert qr_matrix(text) == expected.matrix, (text, expected.version, expected.mask)
    assert versions == set(range(1, 23)), sorted(versions)  # the corpus reaches every version up to 22
    assert masks == set(range(8))


def test_the_codewords_and_their_places_are_segnos_in_every_version_and_error_level() -> None:
    """The Reed-Solomon codewords, the interleaving and the placement against segno's own steps, for random
    data codewords: also the versions and error levels beyond what a text at level M reaches above."""
    rnd = random.Random(40)
    for version in range(1, 41):
        n = encoder.calc_matrix_size(version)
        for error in (consts.ERROR_LEVEL_L, consts.ERROR_LEVEL_M, consts.ERROR_LEVEL_Q, consts.ERROR_LEVEL_H):
            data = rnd.randbytes(sum(info.num_blocks * info.num_data for info in consts.ECC[version][error]))
            expected = encoder.make_matrix(n, n)
            encoder.add_finder_patterns(expected, n, n)
            encoder.add_alignment_patterns(expected, n, n)
            bits = encoder.Buffer(int(bit) for bit in format(int.from_bytes(data, "big"), f"0{8 * len(data)}b"))
            encoder.add_codewords(expected, encoder.make_final_message(version, error, bits), version)
            assert unmasked(version, error, data) == to_bits(expected), (version, error)


def test_the_penalty_is_segnos_on_matrices_made_to_hit_the_rules_edges() -> None:
    """Lines built of runs and finder-like patterns (overlapping ones too, 10111011101 and 1011101011101)
    next to light or dark space, at every offset from both ends: every N1/N3 edge segno's scan has."""
    rnd = random.Random(7)
    pieces = ("0000", "1111", "1011101", "10111011101", "1011101011101", "0", "1", "00000", "11111", "01")
    for version in (*range(1, 8), 10, 15, 27, 40):
        layers = layers_for(version)
        n = layers.size
        for _ in range(12 if version < 10 else 3):
            rows = []
            for _ in range(n):
                line = "".join(rnd.choice(pieces) for _ in range(n))[rnd.randrange(8) :][:n]
                rows.append(bytearray(int(c) for c in line.ljust(n, rnd.choice("01"))))
            if rnd.random() < 0.5:  # the same edges down the columns
                rows = [bytearray(column) for column in zip(*rows, strict=True)]
            expected = encoder.evaluate_mask(rows, n, n)
            assert penalty(to_bits(rows), layers) == expected, (version, encoder.mask_scores(rows, n, n))


def test_another_segno_chooses_the_mask_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qr_mask, "_WRITTEN_FOR_INSTALLED", False)
    monkeypatch.setattr(qr_mask, "penalty", None)  # never reached
    text = payment_uri(Chain.btc, ADDRESSES[Chain.btc][0], 150_000)
    assert qr_matrix(text) == segno.make_qr(text, error="m").matrix
