"""SPL token accounts: where a token sent to one of our Solana addresses lands.

A wallet paying USDC to an owner address sends it to the owner's associated token account (ATA) for that
mint: the program-derived address of [owner, token program, mint] under the associated-token program,
created by the payer if it does not exist yet. We derive it offline to ask the chain for its history.
"""

import hashlib
from functools import lru_cache

from bip_utils import Base58Decoder, Base58Encoder

SPL_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
_P = 2**255 - 19  # the ed25519 field
_D = -121665 * pow(121666, -1, _P) % _P  # the curve's d


@lru_cache(maxsize=65_536)  # asked every cycle for every token invoice; a search of up to 256 hashes each
def associated_token_account(owner: str, mint: str) -> str:
    """The ATA of `owner` for `mint` under the Token program (base58). Raises ValueError for a key that is
    not 32 bytes of base58."""
    seeds = [_key(owner), _key(SPL_PROGRAM), _key(mint)]
    program = _key(ATA_PROGRAM)
    for bump in range(255, -1, -1):  # find_program_address: the first bump that lands off the curve
        candidate = hashlib.sha256(b"".join(seeds) + bytes([bump]) + program + b"ProgramDerivedAddress").digest()
        if not _on_curve(candidate):
            return str(Base58Encoder.Encode(candidate))
    raise ValueError("no program address for these seeds")  # never happens: each bump is a 1/2 chance


def _key(text: str) -> bytes:
    raw = bytes(Base58Decoder.Decode(text))
    if len(raw) != 32:
        raise ValueError(f"not a Solana public key: {text!r}")
    return raw


def _on_curve(point: bytes) -> bool:
    """Whether 32 bytes decompress to an ed25519 point, as curve25519-dalek's `decompress` decides it: y is
    the little-endian number without its top (sign) bit, reduced mod p; the point exists when
    x² = (y² − 1) / (d·y² + 1) has a root, any subgroup (so not libsodium's stricter is_valid_point)."""
    y = int.from_bytes(point, "little") & ((1 << 255) - 1)
    y2 = y * y % _P
    x2 = (y2 - 1) * pow(_D * y2 + 1, _P - 2, _P) % _P
    return x2 == 0 or pow(x2, (_P - 1) // 2, _P) == 1  # Euler's criterion
