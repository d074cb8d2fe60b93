"""Receive-address derivation: watch-only for BTC, LTC and ETH; a sealed node for SOL.

BTC and LTC pay to native segwit (BIP84, P2WPKH) at m/84'/coin'/account'/0/i; ETH to m/44'/60'/0'/0/i.
For these the bot is given only the account-level extended public key, so it can never spend.
Solana's ed25519 has no public derivation, so for SOL the bot holds the m/44'/501' node
(see SolAccountNode) and seals it at rest with services.wallet.secretbox.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

import coincurve
from bip_utils import (
    Base58ChecksumError,
    Base58Decoder,
    Base58Encoder,
    Bech32ChecksumError,
    Bip32KeyData,
    Bip32KeyError,
    Bip32KeyIndex,
    Bip32Secp256k1,
    Bip32Slip10Ed25519,
    Bip39MnemonicValidator,
    Bip39SeedGenerator,
    Hash160,
    Kekkak256,
    SegwitBech32Decoder,
    SegwitBech32Encoder,
)

from models.chains import CHAINS
from models.enums import Chain, Network

_HARDENED = 0x8000_0000
_EXT_KEY_LEN = 78  # BIP32 serialisation: version 4, depth 1, parent fp 4, index 4, chain code 32, key 33
_MAX_KEY_TEXT = 200  # longer text is not a key; also bounds the quadratic base58 decode


_ETH_HEX = re.compile(r"0x[0-9a-fA-F]{40}")


def canonical_address(chain: Chain, address: str) -> str:
    """`address` written as our invoices store addresses of `chain`, so a lookup finds the invoice
    whatever case a provider used. ETH: hex is case-insensitive and EIP-55's mixed case only a
    checksum, so any 0x address becomes its EIP-55 form (a checksum error cannot be told from a
    provider's lowercase, and a wrong address still matches no invoice). Others as given: base58
    is case-sensitive; bech32 is valid all in capitals (QR codes, some wallets' exports) and nodes and
    providers report the lowercase our invoices use, so an all-capitals segwit address of the chain is
    lowered (mixed case is not bech32 and stays as given, matching nothing)."""
    if chain is not Chain.eth:
        return address.lower() if address.isupper() and _is_segwit(chain, address.lower()) else address
    if not _ETH_HEX.fullmatch(address):
        return address
    hex_digits = address[2:].lower()
    digest = Kekkak256.QuickDigest(hex_digits).hex()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(hex_digits, digest, strict=False))


def _is_segwit(chain: Chain, address: str) -> bool:
    for hrp in CHAINS[chain].bech32_hrp.values():
        try:
            SegwitBech32Decoder.Decode(hrp, address)
        except (ValueError, Bech32ChecksumError):  # another hrp, or not bech32 at all
            continue
        return True
    return False


class WalletConfigError(ValueError):
    """A configured wallet key cannot be used. The message is one line and names the variable."""


# Version bytes (BIP32, SLIP-132). Electrum and Electrum-LTC both export native segwit accounts with the
# Bitcoin zpub/vpub versions, also for Litecoin; Ltub/ttub are Litecoin's plain BIP32 versions.
_XPUB, _TPUB = bytes.fromhex("0488b21e"), bytes.fromhex("043587cf")
_ZPUB, _VPUB = bytes.fromhex("04b24746"), bytes.fromhex("045f1cf6")
_LTUB, _TTUB = bytes.fromhex("019da462"), bytes.fromhex("0436f6e1")

# Versions each chain derives from: version -> (prefix, is a testnet key).
# fmt: off
_ACCEPTED: dict[Chain, dict[bytes, tuple[str, bool]]] = {
    Chain.btc: {_ZPUB: ("zpub", False), _XPUB: ("xpub", False), _VPUB: ("vpub", True), _TPUB: ("tpub", True)},
    Chain.ltc: {_ZPUB: ("zpub", False), _XPUB: ("xpub", False), _LTUB: ("Ltub", False),
                _VPUB: ("vpub", True), _TPUB: ("tpub", True), _TTUB: ("ttub", True)},
    Chain.eth: {_XPUB: ("xpub", False)},
}
# Public keys of other script types. Deriving P2WPKH from them would pay to addresses the owner's wallet
# never looks at, so they are refused rather than reinterpreted.
_OTHER_SCRIPT = {
    "049d7cb2": "ypub", "044a5262": "upub", "01b26ef6": "Mtub",
    "0295b43f": "Ypub", "02aa7ed3": "Zpub", "024289ef": "Upub", "02575483": "Vpub",
}
_PRIVATE = {
    "0488ade4": "xprv", "04358394": "tprv", "049d7878": "yprv", "044a4e28": "uprv", "04b2430c": "zprv",
    "045f18bc": "vprv", "0295b005": "Yprv", "02aa7a99": "Zprv", "024285b5": "Uprv", "02575048": "Vprv",
    "019d9cfe": "Ltpv", "01b26792": "Mtpv", "0436ef7d": "ttpv",
}
# fmt: on


def _version_name(version: bytes) -> str:
    for table in _ACCEPTED.values():
        if version in table:
            return table[version][0]
    return _OTHER_SCRIPT.get(version.hex(), f"version {version.hex()}")


def _account_path(chain: Chain, network: Network) -> str:
    purpose = 44 if chain is Chain.eth else 84
    return f"m/{purpose}'/{CHAINS[chain].bip44_coin_type(network)}'/0'"


class AccountKey:
    """A validated account-level (depth 3) extended public key for one chain and network.

    Build it with parse_account_key. It holds no private key and derives receive addresses only.
    """

    __slots__ = ("_payload", "_receive_chain_code", "_receive_key", "_receive_point", "chain", "network")

    def __init__(self, chain: Chain, network: Network, payload: bytes) -> None:
        """payload: the 74 serialised bytes after the version; raises Bip32KeyError if the point is invalid."""
        self.chain = chain
        self.network = network
        self._payload = payload
        data = Bip32KeyData(payload[0], int.from_bytes(payload[5:9], "big"), payload[9:41], payload[1:5])
        # Every address is on the receive chain (0): derive its node once, keep its key and chain code.
        receive: Any = Bip32Secp256k1.FromPublicKey(payload[41:], data).ChildKey(0)
        self._receive_key = bytes(receive.PublicKey().RawCompressed().ToBytes())
        self._receive_point = coincurve.PublicKey(self._receive_key)
        self._receive_chain_code = bytes(receive.ChainCode().ToBytes())

    @property
    def parent_fingerprint(self) -> bytes:
        """Fingerprint of the key's parent (m/84'/coin'), not of the master key."""
        return self._payload[1:5]

    @property
    def account(self) -> int:
        """The account number (unhardened), e.g. 0 for m/84'/0'/0'."""
        return int.from_bytes(self._payload[5:9], "big") - _HARDENED

    def address(self, index: int) -> str:
        """Receive address at 0/index: bech32 P2WPKH for btc/ltc, EIP-55 checksummed for eth.

        Pure and deterministic. Raises ValueError unless 0 <= index < 2**31.
        """
        if not 0 <= index < _HARDENED:
            raise ValueError(f"address index out of range: {index}")
        # BIP32 CKDpub on the receive node, as bip-utils' ChildKey computes it (the tests compare the two),
        # in two C calls: bip-utils' key objects, validations and encoders took 3/4 of an address's time.
        # (An I_L of n or more, or a child at infinity, about 1 in 2**127, raises ValueError: BIP32 says
        # skip such an index, and bip-utils raises too.)
        tweak = hmac.digest(self._receive_chain_code, self._receive_key + index.to_bytes(4, "big"), "sha512")[:32]
        child = self._receive_point.add(tweak)
        if self.chain is Chain.eth:
            keccak = Kekkak256.QuickDigest(child.format(compressed=False)[1:])
            return canonical_address(Chain.eth, "0x" + bytes(keccak[-20:]).hex())
        hrp = CHAINS[self.chain].bech32_hrp[self.network]
        return str(SegwitBech32Encoder.Encode(hrp, 0, Hash160.QuickDigest(child.format())))  # P2WPKH: v0, hash160

    def __repr__(self) -> str:
        return f"AccountKey({self.chain}, {self.network}, {plain_xpub(self)})"


def parse_account_key(chain: Chain, network: Network, text: str, variable: str) -> AccountKey:
    """Validate an account extended public key as a wallet exports it and return it ready to derive.

    btc: zpub/xpub (mainnet), vpub/tpub (testnet and regtest); ltc: the same plus Ltub/ttub;
    eth: the xpub of m/44'/60'/0' on every network. Raises WalletConfigError, naming `variable`,
    for text that is not an extended key, any private key, another script type (ypub, Mtub…),
    another chain's key, the wrong network, or a key that is not at account depth 3.
    """
    if chain not in _ACCEPTED:
        raise ValueError(f"{chain} has no extended public keys; use SolAccountNode")
    accepted = _ACCEPTED[chain]
    testnet = network is not Network.mainnet
    expected = "/".join(name for name, is_test in accepted.values() if chain is Chain.eth or is_test == testnet)
    text = text.strip()
    try:
        if len(text) > _MAX_KEY_TEXT:
            raise ValueError("too long")
        raw = bytes(Base58Decoder.CheckDecode(text))
    except (ValueError, Base58ChecksumError):
        raw = b""
    if len(raw) != _EXT_KEY_LEN:
        raise WalletConfigError(f"{variable}: not an extended public key (expected {expected})")

    version, payload = raw[:4], raw[4:]
    if version.hex() in _PRIVATE or payload[41] == 0:  # a private key is serialised as 0x00 || 32 bytes
        name = _PRIVATE.get(version.hex(), "private")
        raise WalletConfigError(
            f"{variable}: a private key ({name}); never give the bot a private key, "
            f"export the account's extended public key ({expected})"
        )
    if version not in accepted:
        if chain is Chain.eth:
            why = "is not usable for ETH"
        elif version.hex() in _OTHER_SCRIPT:
            why = "is for another address type; export the native segwit (BIP84) account key"
        else:
            why = f"is not a {CHAINS[chain].symbol} key"
        raise WalletConfigError(
            f"{variable}: a {_version_name(version)} key {why} (expected {expected} of {_account_path(chain, network)})"
        )
    name, is_testnet = accepted[version]
    if chain is not Chain.eth and is_testnet != testnet:
        kind = "testnet" if is_testnet else "mainnet"
        raise WalletConfigError(f"{variable}: a {kind} key ({name}) but NETWORK={network}")

    depth, index = payload[0], int.from_bytes(payload[5:9], "big")
    if depth != 3 or index < _HARDENED:
        raise WalletConfigError(
            f"{variable}: not an account-level key (depth {depth}); "
            f"export the account key of {_account_path(chain, network)} (depth 3)"
        )
    try:
        return AccountKey(chain, network, payload)
    except Bip32KeyError:
        raise WalletConfigError(f"{variable}: the public key is not a valid secp256k1 point") from None


def plain_xpub(key: AccountKey) -> str:
    """The key re-serialised with plain BIP32 versions: xpub on mainnet (and for eth), tpub otherwise.

    Descriptors (Bitcoin Core, Litecoin Core, Sparrow) take only xpub/tpub, not zpub/vpub/Ltub.
    """
    version = _XPUB if key.chain is Chain.eth or key.network is Network.mainnet else _TPUB
    return str(Base58Encoder.CheckEncode(version + key._payload))


def descriptor(key: AccountKey, master_fingerprint: bytes | None = None) -> str:
    """Watch-only output descriptor of the receive chain, with its BIP-380 checksum, for btc and ltc.

    wpkh([fingerprint/84h/<coin>h/<account>h]xpub…/0/*)#checksum; coin 0 btc, 2 ltc, 1 on testnet/regtest.
    An account xpub carries only its PARENT's fingerprint (of m/84'/coin'), not the master's. Unless the
    real master fingerprint is given, that parent fingerprint is used: the descriptor then watches the
    right addresses, but a hardware wallet asked to sign a PSBT built from it will not recognise the key
    origin. Pass the master fingerprint the wallet shows (e.g. 73c5da0a) where signing matters.
    """
    if key.chain not in (Chain.btc, Chain.ltc):
        raise ValueError(f"no output descriptor for {key.chain}")
    fingerprint = master_fingerprint if master_fingerprint is not None else key.parent_fingerprint
    if len(fingerprint) != 4:
        raise ValueError("a fingerprint is 4 bytes")
    origin = f"{fingerprint.hex()}/84h/{CHAINS[key.chain].bip44_coin_type(key.network)}h/{key.account}h"
    body = f"wpkh([{origin}]{plain_xpub(key)}/0/*)"
    return f"{body}#{descriptor_checksum(body)}"


_DESC_INPUT = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
_DESC_CHECKSUM = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_DESC_GENERATOR = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)


def descriptor_checksum(desc: str) -> str:
    """The 8-character BIP-380 checksum of a descriptor written without one. Raises ValueError on bad characters."""

    def polymod(chk: int, value: int) -> int:
        top = chk >> 35
        chk = (chk & 0x7_FFFF_FFFF) << 5 ^ value
        for i, gen in enumerate(_DESC_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
        return chk

    chk, groups = 1, []
    for ch in desc:
        pos = _DESC_INPUT.find(ch)
        if pos < 0:
            raise ValueError(f"character not allowed in a descriptor: {ch!r}")
        chk = polymod(chk, pos & 31)  # the low 5 bits of each character...
        groups.append(pos >> 5)
        if len(groups) == 3:  # ...and its 2-bit class, three classes to a symbol
            chk = polymod(chk, groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if len(groups) == 1:
        chk = polymod(chk, groups[0])
    elif len(groups) == 2:
        chk = polymod(chk, groups[0] * 3 + groups[1])
    for _ in range(8):
        chk = polymod(chk, 0)
    chk ^= 1
    return "".join(_DESC_CHECKSUM[(chk >> (5 * (7 - i))) & 31] for i in range(8))


class SolAccountNode:
    """The SLIP-10 ed25519 node m/44'/501' (private key || chain code, 64 bytes).

    Phantom's account i lives at m/44'/501'/i'/0'; every step is hardened, so deriving needs this private
    node. It can spend every SOL address it derives: seal it at rest (services.wallet.secretbox), never log it.
    The mnemonic itself is never kept.
    """

    __slots__ = ("_node", "_raw")
    SIZE = 64

    def __init__(self, raw: bytes) -> None:
        """raw: private key || chain code of m/44'/501'. Raises ValueError on a wrong length."""
        if len(raw) != self.SIZE:
            raise ValueError(f"a SOL account node is {self.SIZE} bytes")
        self._raw = bytes(raw)
        data = Bip32KeyData(2, Bip32KeyIndex.HardenIndex(CHAINS[Chain.sol].coin_type), raw[32:])
        self._node: Any = Bip32Slip10Ed25519.FromPrivateKey(raw[:32], data)

    @classmethod
    def from_mnemonic(cls, mnemonic: str, passphrase: str = "") -> SolAccountNode:
        """Derive m/44'/501' from a BIP-39 mnemonic. Raises WalletConfigError if the mnemonic is invalid."""
        mnemonic = " ".join(mnemonic.split())
        if not Bip39MnemonicValidator().IsValid(mnemonic):
            raise WalletConfigError("SOL mnemonic: not a valid BIP-39 mnemonic (a word or the checksum is wrong)")
        seed = Bip39SeedGenerator(mnemonic).Generate(passphrase)
        node = Bip32Slip10Ed25519.FromSeed(seed).DerivePath(f"m/44'/{CHAINS[Chain.sol].coin_type}'")
        return cls(bytes(node.PrivateKey().Raw().ToBytes()) + bytes(node.ChainCode().ToBytes()))

    @classmethod
    def from_bytes(cls, raw: bytes) -> SolAccountNode:
        """Inverse of to_bytes."""
        return cls(raw)

    def to_bytes(self) -> bytes:
        """The 64 secret bytes; only for sealing."""
        return self._raw

    def _keypair(self, index: int) -> tuple[bytes, bytes]:
        if not 0 <= index < _HARDENED:
            raise ValueError(f"address index out of range: {index}")
        child = self._node.ChildKey(Bip32KeyIndex.HardenIndex(index)).ChildKey(Bip32KeyIndex.HardenIndex(0))
        secret = bytes(child.PrivateKey().Raw().ToBytes())
        public = bytes(child.PublicKey().RawCompressed().ToBytes())[1:]  # drop bip-utils' 0x00 ed25519 prefix
        return secret, public

    def address(self, index: int) -> str:
        """Base58 public key of Phantom account `index` (m/44'/501'/index'/0'). Raises ValueError out of range."""
        return str(Base58Encoder.Encode(self._keypair(index)[1]))

    def private_key_base58(self, index: int) -> str:
        """Phantom's private-key export for account `index`: base58(secret || public), 64 bytes. A secret."""
        secret, public = self._keypair(index)
        return str(Base58Encoder.Encode(secret + public))

    def __repr__(self) -> str:
        return "SolAccountNode(<secret>)"
