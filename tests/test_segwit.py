"""services.wallet.segwit writes the P2WPKH addresses bip-utils writes."""

import random

import pytest
from bip_utils import SegwitBech32Encoder

from services.wallet.segwit import p2wpkh_address


def test_bip173_vectors() -> None:
    key_hash = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    assert p2wpkh_address("bc", key_hash) == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    assert p2wpkh_address("tb", key_hash) == "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"


@pytest.mark.parametrize("hrp", ["bc", "tb", "bcrt", "ltc", "tltc", "rltc"])
def test_same_as_bip_utils(hrp: str) -> None:
    rng = random.Random(hrp)
    hashes = [bytes(20), b"\xff" * 20, *(rng.randbytes(20) for _ in range(500))]
    assert [p2wpkh_address(hrp, h) for h in hashes] == [SegwitBech32Encoder.Encode(hrp, 0, h) for h in hashes]


@pytest.mark.parametrize("size", [0, 19, 21, 32])
def test_only_a_key_hash(size: int) -> None:
    with pytest.raises(ValueError, match="20-byte"):
        p2wpkh_address("bc", bytes(size))
