"""Secrets at rest: scrypt key derivation from the operator's wallet key, AES-256-GCM sealing.

A sealed blob is version byte || 12-byte random nonce || ciphertext+tag. The caller supplies the AAD,
which binds a blob to its use (a goods payload cannot be swapped for another row's, for instance).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from services.wallet.hdwallet import SolAccountNode

KEY_BYTES = 32
SALT_BYTES = 16
_SEAL_VERSION = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16

_SOL_PURPOSE = "sol-account-node"
_GOODS_PURPOSE = "goods-payload"
_SOL_FILE_FORMAT = "shop-sol-key"
_SOL_FILE_AAD = b"shop-sol-key/v1"


class DecryptionError(Exception):
    """A sealed blob or key file cannot be opened: tampered, wrong key, wrong AAD or malformed."""


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost. Stored next to every salt so the cost can be raised later without breaking old files."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def check(self) -> None:
        """Raise ValueError on parameters scrypt rejects or that would cost more than ~1 GiB to try."""
        if self.n < 2 or self.n & (self.n - 1) or not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            raise ValueError(f"bad scrypt parameters {self}")
        if 128 * self.r * self.n > 2**30:
            raise ValueError(f"scrypt parameters too costly {self}")


DEFAULT_SCRYPT = ScryptParams()


def derive_key(secret: str, salt: bytes, purpose: str, params: ScryptParams = DEFAULT_SCRYPT) -> bytes:
    """A 32-byte key from `secret` by scrypt. Different `purpose` strings give unrelated keys.

    Deterministic; slow on purpose (about 0.1-0.3 s and 32 MiB at the default cost).
    Raises ValueError on an empty secret, a salt under 16 bytes or bad parameters.
    """
    if not secret:
        raise ValueError("empty secret")
    if len(salt) < SALT_BYTES:
        raise ValueError(f"salt must be at least {SALT_BYTES} bytes")
    params.check()
    # The purpose goes into scrypt's salt, length-prefixed so no two (purpose, salt) pairs collide.
    tagged = len(purpose).to_bytes(2, "big") + purpose.encode() + salt
    kdf = Scrypt(salt=tagged, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(secret.encode())


def goods_key(wallet_key: str, salt: bytes, params: ScryptParams = DEFAULT_SCRYPT) -> bytes:
    """The key that seals goods payloads; never equal to the SOL key file's key for the same secret."""
    return derive_key(wallet_key, salt, _GOODS_PURPOSE, params)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate. A fresh random nonce each call, so sealing twice gives different blobs."""
    nonce = os.urandom(_NONCE_BYTES)
    return bytes([_SEAL_VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Inverse of seal. Raises DecryptionError if the blob was altered, or the key or AAD differ."""
    if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES or blob[0] != _SEAL_VERSION:
        raise DecryptionError("not a sealed blob of a known version")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise DecryptionError("wrong key, wrong AAD or tampered data") from None


def write_sol_key_file(path: str | Path, node: SolAccountNode, wallet_key: str) -> None:
    """Seal the SOL m/44'/501' node under `wallet_key` into a JSON file with mode 0600.

    The file holds the format tag, scrypt parameters, a fresh salt and the sealed 64 bytes; never the
    mnemonic. Replaces any existing file atomically (write to a temporary file, then rename).
    """
    params, salt = DEFAULT_SCRYPT, os.urandom(SALT_BYTES)
    blob = seal(derive_key(wallet_key, salt, _SOL_PURPOSE, params), node.to_bytes(), _SOL_FILE_AAD)
    doc = {
        "format": _SOL_FILE_FORMAT,
        "version": 1,
        "scrypt": asdict(params),
        "salt": base64.b64encode(salt).decode(),
        "sealed": base64.b64encode(blob).decode(),
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # O_CREAT's mode does not apply to a leftover temporary file
        f.write(json.dumps(doc, indent=2).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_sol_key_file(path: str | Path, wallet_key: str) -> SolAccountNode:
    """Open a file written by write_sol_key_file. Raises DecryptionError on a wrong key, tampering or
    a malformed file, ValueError on an empty wallet_key, and OSError if the file cannot be read."""
    try:
        doc = json.loads(Path(path).read_bytes())
        if doc["format"] != _SOL_FILE_FORMAT or doc["version"] != 1:
            raise ValueError("unknown format")
        params = ScryptParams(**{k: int(doc["scrypt"][k]) for k in ("n", "r", "p")})
        salt = base64.b64decode(doc["salt"], validate=True)
        blob = base64.b64decode(doc["sealed"], validate=True)
        params.check()
        if len(salt) < SALT_BYTES:
            raise ValueError("salt too short")
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise DecryptionError(f"{path}: not a SOL key file ({e})") from None
    key = derive_key(wallet_key, salt, _SOL_PURPOSE, params)
    return SolAccountNode.from_bytes(open_sealed(key, blob, _SOL_FILE_AAD))
