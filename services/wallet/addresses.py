"""Addresses someone types in (a buyer's refund address): whose they are, checked before any coin is sent.

A text is read as every kind of address we know, for every chain and network: native segwit and taproot
(bech32, bech32m) and base58check P2PKH/P2SH for BTC and LTC, 0x-hex for ETH (EIP-55 checked when it is
written in mixed case), base58 public keys for SOL. So a refusal can say what is wrong: a typo (the
checksum fails), another network (a testnet address on a mainnet shop), or another coin.
"""

import re
from enum import StrEnum

from bip_utils import Base58ChecksumError, Base58Decoder, Bech32ChecksumError, SegwitBech32Decoder

from models.chains import CHAINS
from models.enums import Chain, Network
from services.wallet.hdwallet import canonical_address

_ETH = re.compile(r"0x[0-9a-fA-F]{40}")
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{25,44}")
_SOL_KEY_BYTES = 32
_BASE58CHECK_BYTES = 21  # version byte + 20-byte hash
_UNSPENDABLE = {"0x" + "0" * 40, "1" * 32}  # ETH's zero address, Solana's system program


class AddressProblem(StrEnum):
    malformed = "malformed"  # no kind of address we know
    checksum = "checksum"  # shaped like an address, but a character is wrong: a typo
    network = "network"  # the right coin's, of another network
    other_chain = "other_chain"  # another coin's


class NotAnAddress(ValueError):
    """`problem` says why; `network` is the network the address is for (problem network), `chain` the coin
    it is for (problem other_chain)."""

    def __init__(self, problem: AddressProblem, *, network: Network | None = None, chain: Chain | None = None):
        super().__init__(problem, network, chain)
        self.problem = problem
        self.network = network
        self.chain = chain


class _ChecksumFails(Exception):
    pass


def parse_address(chain: Chain, network: Network, text: str) -> str:
    """`text` as an address of `chain` on `network`, written the way the chain's nodes report it (bech32 in
    lower case, ETH in EIP-55). Raises NotAnAddress."""
    text = text.strip()
    try:
        kinds = _kinds(text)
    except _ChecksumFails:
        raise NotAnAddress(AddressProblem.checksum) from None
    if (chain, network) in kinds or (chain, None) in kinds:
        return text.lower() if _bech32_hrp(text) else canonical_address(chain, text)
    networks = [n for n in Network if (chain, n) in kinds]
    if networks:
        raise NotAnAddress(AddressProblem.network, network=networks[0])
    chains = [c for c in CHAINS if any(k is c for k, _ in kinds)]
    if chains:
        raise NotAnAddress(AddressProblem.other_chain, chain=chains[0])
    raise NotAnAddress(AddressProblem.malformed)


def _kinds(text: str) -> set[tuple[Chain, Network | None]]:
    """Every (chain, network) `text` is a valid address of; network None for chains whose addresses do not
    say (ETH, SOL). Raises _ChecksumFails for an address of a known shape whose checksum is wrong."""
    if text in _UNSPENDABLE:
        return set()
    if _ETH.fullmatch(text):
        if text[2:] not in (text[2:].lower(), text[2:].upper()) and canonical_address(Chain.eth, text) != text:
            raise _ChecksumFails
        return {(Chain.eth, None)}
    if hrp := _bech32_hrp(text):
        try:
            SegwitBech32Decoder.Decode(hrp, text)
        except Bech32ChecksumError:
            raise _ChecksumFails from None
        except ValueError:
            return set()
        return {(c.chain, n) for c in CHAINS.values() for n, h in c.bech32_hrp.items() if h == hrp}
    if not _BASE58.fullmatch(text):
        return set()
    raw = bytes(Base58Decoder.Decode(text))
    if len(raw) == _SOL_KEY_BYTES:
        return {(Chain.sol, None)}
    try:
        raw = bytes(Base58Decoder.CheckDecode(text))
    except Base58ChecksumError:
        raise _ChecksumFails from None
    if len(raw) != _BASE58CHECK_BYTES:
        return set()
    return {(c.chain, n) for c in CHAINS.values() for n, versions in c.base58_versions.items() if raw[0] in versions}


def _bech32_hrp(text: str) -> str | None:
    """The human-readable part of a segwit address of ours (the longest that fits: "bcrt" before "bc")."""
    lower = text.lower()
    hrps = {h for c in CHAINS.values() for h in c.bech32_hrp.values()}
    return max((h for h in hrps if lower.startswith(h + "1")), key=len, default=None)
