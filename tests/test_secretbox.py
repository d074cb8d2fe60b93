"""AES-GCM sealing, scrypt key separation and the SOL key file."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from bip_utils import Base58Encoder

from services.wallet import secretbox
from services.wallet.hdwallet import SolAccountNode
from services.wallet.secretbox import (
    DecryptionError,
    ScryptParams,
    derive_key,
    goods_key,
    open_sealed,
    read_sol_key_file,
    seal,
    write_sol_key_file,
)

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
SOL_0 = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
FAST = ScryptParams(n=2**10)  # derivation behaviour does not depend on the cost
SALT = bytes(range(16))


def test_seal_round_trip() -> None:
    key = os.urandom(32)
    blob = seal(key, b"licence key 1234", b"stock:7")
    assert blob[0] == 1
    assert open_sealed(key, blob, b"stock:7") == b"licence key 1234"
    assert seal(key, b"licence key 1234", b"stock:7") != blob  # fresh nonce each time
    assert open_sealed(key, seal(key, b"", b""), b"") == b""


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])  # version, nonce, nonce end, ciphertext, tag
def test_tamper_is_detected(position: int) -> None:
    key = os.urandom(32)
    blob = bytearray(seal(key, b"secret goods", b"aad"))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        open_sealed(key, bytes(blob), b"aad")


def test_truncated_blob() -> None:
    key = os.urandom(32)
    blob = seal(key, b"x", b"")
    for cut in (0, 1, 13, len(blob) - 1):
        with pytest.raises(DecryptionError):
            open_sealed(key, blob[:cut], b"")


def test_wrong_key_and_aad() -> None:
    key = os.urandom(32)
    blob = seal(key, b"secret goods", b"stock:7")
    with pytest.raises(DecryptionError):
        open_sealed(os.urandom(32), blob, b"stock:7")
    with pytest.raises(DecryptionError):
        open_sealed(key, blob, b"stock:8")


def test_derive_key_separates_inputs() -> None:
    base = derive_key("wallet key", SALT, "goods-payload", FAST)
    assert len(base) == 32
    assert derive_key("wallet key", SALT, "goods-payload", FAST) == base
    assert derive_key("wallet key", SALT, "other", FAST) != base
    assert derive_key("wallet key", bytes(16), "goods-payload", FAST) != base
    assert derive_key("wallet kez", SALT, "goods-payload", FAST) != base
    assert derive_key("wallet key", SALT, "goods-payload", ScryptParams(n=2**11)) != base
    # the purpose cannot bleed into the salt
    assert derive_key("k", b"b" + SALT, "a", FAST) != derive_key("k", SALT, "ab", FAST)


def test_goods_key_differs_from_sol_key() -> None:
    goods = goods_key("wallet key", SALT)
    assert goods == derive_key("wallet key", SALT, "goods-payload")
    assert goods != derive_key("wallet key", SALT, secretbox._SOL_PURPOSE)


@pytest.mark.parametrize(
    ("secret", "salt", "params"),
    [("", SALT, FAST), ("k", bytes(15), FAST), ("k", SALT, ScryptParams(n=1000)), ("k", SALT, ScryptParams(n=2**24))],
)
def test_derive_key_rejects(secret: str, salt: bytes, params: ScryptParams) -> None:
    with pytest.raises(ValueError):
        derive_key(secret, salt, "p", params)


def test_sol_file_round_trip(tmp_path: Path) -> None:
    node = SolAccountNode.from_mnemonic(MNEMONIC)
    path = tmp_path / "sol.key"
    write_sol_key_file(path, node, "operator wallet key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = read_sol_key_file(path, "operator wallet key")
    assert again.address(0) == SOL_0
    assert again.to_bytes() == node.to_bytes()

    doc = json.loads(path.read_bytes())
    assert doc["scrypt"] == {"n": 2**15, "r": 8, "p": 1}

    data = path.read_bytes()
    for word in set(MNEMONIC.split()):
        assert word.encode() not in data
    raw = node.to_bytes()
    secrets = [
        raw,
        raw[:32],
        raw[32:],
        raw.hex().encode(),
        raw[:32].hex().encode(),
        base64.b64encode(raw),
        Base58Encoder.Encode(raw).encode(),
        node.private_key_base58(0).encode(),
    ]
    for secret in secrets:
        assert secret not in data


def test_sol_file_overwrite_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "sol.key"
    path.write_text("old")
    path.chmod(0o644)
    write_sol_key_file(path, SolAccountNode.from_mnemonic(MNEMONIC), "k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_sol_key_file(path, "k").address(0) == SOL_0
    assert not (tmp_path / "sol.key.tmp").exists()


def test_sol_file_wrong_key_or_tamper(tmp_path: Path) -> None:
    path = tmp_path / "sol.key"
    write_sol_key_file(path, SolAccountNode.from_mnemonic(MNEMONIC), "right")
    with pytest.raises(DecryptionError):
        read_sol_key_file(path, "wrong")

    doc = json.loads(path.read_bytes())
    blob = bytearray(base64.b64decode(doc["sealed"]))
    blob[20] ^= 0x80
    doc["sealed"] = base64.b64encode(bytes(blob)).decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(DecryptionError):
        read_sol_key_file(path, "right")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": "shop-sol-key", "version": 2}',
        b"\xff\xfe",
        b'{"format": "shop-sol-key", "version": 1, "scrypt": {"n": 3, "r": 8, "p": 1}, "salt": "", "sealed": ""}',
    ],
)
def test_sol_file_malformed(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "sol.key"
    path.write_bytes(content)
    with pytest.raises(DecryptionError):
        read_sol_key_file(path, "k")
