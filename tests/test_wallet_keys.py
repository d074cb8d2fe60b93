"""Watch-only derivation against published vectors and against bip-utils' private-key derivation."""

import pytest
from bip_utils import (
    Base58Decoder,
    Base58Encoder,
    Bip32Secp256k1,
    Bip32Slip10Ed25519,
    Bip39SeedGenerator,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip84,
    Bip84Coins,
    Ed25519PrivateKey,
    SegwitBech32Decoder,
)

from models.enums import Chain, Network
from services.wallet import hdwallet
from services.wallet.hdwallet import (
    SolAccountNode,
    WalletConfigError,
    descriptor,
    descriptor_checksum,
    parse_account_key,
    plain_xpub,
)

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
SEED = Bip39SeedGenerator(MNEMONIC).Generate()
ROOT = Bip32Secp256k1.FromSeed(SEED)

VERSIONS = {
    "xpub": "0488b21e",
    "zpub": "04b24746",
    "Ltub": "019da462",
    "ypub": "049d7cb2",
    "Mtub": "01b26ef6",
    "tpub": "043587cf",
    "vpub": "045f1cf6",
    "ttub": "0436f6e1",
    "xprv": "0488ade4",
    "zprv": "04b2430c",
    "tprv": "04358394",
    "Ltpv": "019d9cfe",
}

BTC_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
BTC_1 = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"  # BIP84's second receive vector
LTC_0 = "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh"
ETH_0 = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
SOL_0 = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
PATHS = {
    (Chain.btc, False): "m/84'/0'/0'",
    (Chain.ltc, False): "m/84'/2'/0'",
    (Chain.btc, True): "m/84'/1'/0'",
    (Chain.ltc, True): "m/84'/1'/0'",
}


def exported(path: str, name: str) -> str:
    """The key at `path` as a wallet exports it, with the version bytes of `name` (zpub, Ltub, zprv...)."""
    node = ROOT.DerivePath(path)
    text = node.PrivateKey().ToExtended() if name.endswith(("prv", "pv")) else node.PublicKey().ToExtended()
    return str(Base58Encoder.CheckEncode(bytes.fromhex(VERSIONS[name]) + Base58Decoder.CheckDecode(text)[4:]))


def witness_program(address: str) -> bytes:
    hrp = address[: address.rindex("1")]
    version, program = SegwitBech32Decoder.Decode(hrp, address)
    assert version == 0
    return bytes(program)


def test_version_table_prefixes() -> None:
    """Each version constant in the module really encodes to the prefix it is named after."""
    tables = [{v.hex(): name for v, (name, _) in t.items()} for t in hdwallet._ACCEPTED.values()]
    for table in [*tables, hdwallet._OTHER_SCRIPT, hdwallet._PRIVATE]:
        for hex_version, name in table.items():
            assert Base58Encoder.CheckEncode(bytes.fromhex(hex_version) + bytes(74)).startswith(name)


@pytest.mark.parametrize("name", ["zpub", "xpub"])
def test_btc_mainnet_vectors(name: str) -> None:
    key = parse_account_key(Chain.btc, Network.mainnet, exported("m/84'/0'/0'", name), "BTC_XPUB")
    assert key.address(0) == BTC_0
    assert key.address(1) == BTC_1


@pytest.mark.parametrize("name", ["zpub", "xpub", "Ltub"])
def test_ltc_mainnet_vector(name: str) -> None:
    key = parse_account_key(Chain.ltc, Network.mainnet, exported("m/84'/2'/0'", name), "LTC_XPUB")
    assert key.address(0) == LTC_0


@pytest.mark.parametrize(
    ("chain", "network", "name", "prefix"),
    [
        (Chain.btc, Network.testnet, "vpub", "tb1q"),
        (Chain.btc, Network.testnet, "tpub", "tb1q"),
        (Chain.btc, Network.regtest, "vpub", "bcrt1q"),
        (Chain.btc, Network.regtest, "tpub", "bcrt1q"),
        (Chain.ltc, Network.testnet, "vpub", "tltc1q"),
        (Chain.ltc, Network.testnet, "ttub", "tltc1q"),
        (Chain.ltc, Network.regtest, "ttub", "rltc1q"),
        (Chain.ltc, Network.regtest, "tpub", "rltc1q"),
    ],
)
def test_test_network_encodings(chain: Chain, network: Network, name: str, prefix: str) -> None:
    key = parse_account_key(chain, network, exported("m/84'/1'/0'", name), "XPUB")
    address = key.address(0)
    assert address.startswith(prefix)
    # every test network shares coin type 1, so all of them pay to the same witness program
    assert witness_program(address) == witness_program("tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl")
    if (chain, network) == (Chain.ltc, Network.testnet):
        assert address == "tltc1q6rz28mcfaxtmd6v789l9rrlrusdprr9pesrjxk"


@pytest.mark.parametrize(
    ("chain", "network", "coin"),
    [
        (Chain.btc, Network.mainnet, Bip84Coins.BITCOIN),
        (Chain.btc, Network.testnet, Bip84Coins.BITCOIN_TESTNET),
        (Chain.btc, Network.regtest, Bip84Coins.BITCOIN_REGTEST),
        (Chain.ltc, Network.mainnet, Bip84Coins.LITECOIN),
        (Chain.ltc, Network.testnet, Bip84Coins.LITECOIN_TESTNET),
    ],
)
def test_public_path_matches_private_path(chain: Chain, network: Network, coin: Bip84Coins) -> None:
    """The xpub path gives the same addresses as bip-utils deriving from the private key."""
    path = PATHS[(chain, network is not Network.mainnet)]
    key = parse_account_key(chain, network, exported(path, "zpub" if network is Network.mainnet else "vpub"), "X")
    receive = Bip84.FromSeed(SEED, coin).Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT)
    for i in (0, 1, 7, 1000, 2**31 - 1):
        assert key.address(i) == receive.AddressIndex(i).PublicKey().ToAddress()


def test_eth_public_path_matches_private_path() -> None:
    """The xpub path gives the EIP-55 addresses bip-utils derives from the private key."""
    key = parse_account_key(Chain.eth, Network.mainnet, exported("m/44'/60'/0'", "xpub"), "ETH_XPUB")
    receive = Bip44.FromSeed(SEED, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT)
    for i in (0, 1, 7, 1000, 2**31 - 1):
        assert key.address(i) == receive.AddressIndex(i).PublicKey().ToAddress()


@pytest.mark.parametrize("network", list(Network))
def test_eth_same_on_every_network(network: Network) -> None:
    key = parse_account_key(Chain.eth, network, exported("m/44'/60'/0'", "xpub"), "ETH_XPUB")
    assert key.address(0) == ETH_0
    assert key.address(3) == parse_account_key(
        Chain.eth, Network.mainnet, exported("m/44'/60'/0'", "xpub"), "ETH_XPUB"
    ).address(3)


def test_address_index_range() -> None:
    key = parse_account_key(Chain.btc, Network.mainnet, exported("m/84'/0'/0'", "zpub"), "BTC_XPUB")
    for bad in (-1, 2**31):
        with pytest.raises(ValueError, match="out of range"):
            key.address(bad)


def reject(chain: Chain, network: Network, text: str, variable: str = "BTC_XPUB") -> str:
    with pytest.raises(WalletConfigError) as e:
        parse_account_key(chain, network, text, variable)
    message = str(e.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("path", "name"), [("m/84'/0'/0'", "xprv"), ("m/84'/0'/0'", "zprv"), ("m/0", "xprv")])
def test_rejects_private_keys(path: str, name: str) -> None:
    message = reject(Chain.btc, Network.mainnet, exported(path, name))
    assert f"a private key ({name})" in message
    assert "never give the bot a private key" in message


def test_rejects_private_keys_of_other_chains() -> None:
    assert "(Ltpv)" in reject(Chain.ltc, Network.mainnet, exported("m/84'/2'/0'", "Ltpv"), "LTC_XPUB")
    assert "(tprv)" in reject(Chain.btc, Network.testnet, exported("m/84'/1'/0'", "tprv"))
    assert "private key" in reject(Chain.eth, Network.mainnet, exported("m/44'/60'/0'", "xprv"), "ETH_XPUB")


def test_rejects_wrong_network() -> None:
    message = reject(Chain.btc, Network.mainnet, exported("m/84'/1'/0'", "vpub"))
    assert message == "BTC_XPUB: a testnet key (vpub) but NETWORK=mainnet"
    assert reject(Chain.btc, Network.testnet, exported("m/84'/0'/0'", "zpub")).endswith(
        "a mainnet key (zpub) but NETWORK=testnet"
    )
    assert "mainnet key (Ltub)" in reject(Chain.ltc, Network.regtest, exported("m/84'/2'/0'", "Ltub"), "LTC_XPUB")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "zpub",
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        "x" * 10_000,
        exported("m/84'/0'/0'", "zpub")[:-1] + "1",
    ],  # broken checksum
)
def test_rejects_garbage(text: str) -> None:
    assert "not an extended public key" in reject(Chain.btc, Network.mainnet, text)


@pytest.mark.parametrize(("path", "depth"), [("m", 0), ("m/84'/0'", 2), ("m/84'/0'/0'/0", 4)])
def test_rejects_wrong_depth(path: str, depth: int) -> None:
    message = reject(Chain.btc, Network.mainnet, exported(path, "zpub"))
    assert f"not an account-level key (depth {depth})" in message


def test_rejects_other_script_types_and_chains() -> None:
    assert "another address type" in reject(Chain.btc, Network.mainnet, exported("m/49'/0'/0'", "ypub"))
    assert "another address type" in reject(Chain.ltc, Network.mainnet, exported("m/49'/2'/0'", "Mtub"), "L")
    assert "Ltub key is not a BTC key" in reject(Chain.btc, Network.mainnet, exported("m/84'/2'/0'", "Ltub"))
    assert "not usable for ETH" in reject(Chain.eth, Network.mainnet, exported("m/44'/60'/0'", "zpub"), "E")


def test_rejects_invalid_point() -> None:
    raw = bytearray(Base58Decoder.CheckDecode(exported("m/84'/0'/0'", "zpub")))
    raw[46:78] = b"\xff" * 32  # x beyond the field size: no such point
    text = Base58Encoder.CheckEncode(bytes(raw))
    assert "not a valid secp256k1 point" in reject(Chain.btc, Network.mainnet, text)


def test_sol_is_not_an_xpub_chain() -> None:
    with pytest.raises(ValueError, match="SolAccountNode"):
        parse_account_key(Chain.sol, Network.mainnet, exported("m/84'/0'/0'", "zpub"), "SOL")


def test_descriptor_checksum_vectors() -> None:
    assert descriptor_checksum("raw(deadbeef)") == "89f8spxm"  # BIP-380
    assert descriptor_checksum("addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)") == "02wpgw69"
    account = ROOT.DerivePath("m/84'/0'/0'").PublicKey().ToExtended()
    assert descriptor_checksum(f"wpkh([73c5da0a/84'/0'/0']{account}/0/*)") == "wc3n3van"
    with pytest.raises(ValueError):
        descriptor_checksum("wpkh(é)")


def test_btc_descriptor() -> None:
    key = parse_account_key(Chain.btc, Network.mainnet, exported("m/84'/0'/0'", "zpub"), "BTC_XPUB")
    xpub = ROOT.DerivePath("m/84'/0'/0'").PublicKey().ToExtended()
    assert plain_xpub(key) == xpub
    assert ROOT.FingerPrint().ToBytes().hex() == "73c5da0a"
    # the published descriptor of this mnemonic's BIP84 account (Sparrow, Bitcoin Core)
    assert descriptor(key, bytes.fromhex("73c5da0a")) == f"wpkh([73c5da0a/84h/0h/0h]{xpub}/0/*)#afwvtk2s"
    # without the master fingerprint the parent's (of m/84'/0') is all the key can offer
    assert key.parent_fingerprint == ROOT.DerivePath("m/84'/0'").FingerPrint().ToBytes()
    body = f"wpkh([{key.parent_fingerprint.hex()}/84h/0h/0h]{xpub}/0/*)"
    assert descriptor(key) == f"{body}#{descriptor_checksum(body)}"


def test_ltc_and_testnet_descriptors_use_plain_versions() -> None:
    ltc = parse_account_key(Chain.ltc, Network.mainnet, exported("m/84'/2'/0'", "Ltub"), "LTC_XPUB")
    assert plain_xpub(ltc).startswith("xpub")
    assert descriptor(ltc).split("]")[0].endswith("/84h/2h/0h")
    for chain in (Chain.btc, Chain.ltc):
        key = parse_account_key(chain, Network.regtest, exported("m/84'/1'/0'", "vpub"), "X")
        assert plain_xpub(key) == exported("m/84'/1'/0'", "tpub")
        assert "/84h/1h/0h]tpub" in descriptor(key)
    with pytest.raises(ValueError):
        descriptor(parse_account_key(Chain.eth, Network.mainnet, exported("m/44'/60'/0'", "xpub"), "E"))


def test_sol_vector_and_round_trip() -> None:
    node = SolAccountNode.from_mnemonic(MNEMONIC)
    assert node.address(0) == SOL_0
    again = SolAccountNode.from_bytes(node.to_bytes())
    assert len(node.to_bytes()) == 64
    assert [again.address(i) for i in range(3)] == [node.address(i) for i in range(3)]
    assert "<secret>" in repr(node)
    assert node.to_bytes().hex() not in repr(node)


def test_sol_matches_phantom_path_and_export() -> None:
    node = SolAccountNode.from_mnemonic(MNEMONIC)
    for i in (0, 1, 5):
        child = Bip32Slip10Ed25519.FromSeed(SEED).DerivePath(f"m/44'/501'/{i}'/0'")
        secret = child.PrivateKey().Raw().ToBytes()
        exported_key = Base58Decoder.Decode(node.private_key_base58(i))
        assert len(exported_key) == 64
        assert exported_key[:32] == secret
        public = Ed25519PrivateKey.FromBytes(exported_key[:32]).PublicKey().RawCompressed().ToBytes()[1:]
        assert exported_key[32:] == public
        assert Base58Decoder.Decode(node.address(i)) == public


def test_sol_rejects_bad_input() -> None:
    with pytest.raises(WalletConfigError, match="not a valid BIP-39 mnemonic"):
        SolAccountNode.from_mnemonic(MNEMONIC.replace("about", "abandon"))
    with pytest.raises(ValueError):
        SolAccountNode.from_bytes(bytes(63))
    assert SolAccountNode.from_mnemonic(MNEMONIC, "TREZOR").address(0) != SOL_0
    assert SolAccountNode.from_mnemonic(f"  {MNEMONIC}\n").address(0) == SOL_0
