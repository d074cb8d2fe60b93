"""The merchant's keys for tests, exported from the BIP39 test mnemonic as real wallets export them."""

from bip_utils import Base58Decoder, Base58Encoder, Bip32Secp256k1, Bip39SeedGenerator

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
VERSIONS = {"xpub": "0488b21e", "zpub": "04b24746", "vpub": "045f1cf6", "ttub": "0436f6e1", "tpub": "043587cf"}
_ROOT = Bip32Secp256k1.FromSeed(Bip39SeedGenerator(MNEMONIC).Generate())


def account_xpub(path: str, version: str) -> str:
    """The public key at `path`, serialised with the version bytes a wallet uses (zpub, vpub, ttub...)."""
    text = _ROOT.DerivePath(path).PublicKey().ToExtended()
    return str(Base58Encoder.CheckEncode(bytes.fromhex(VERSIONS[version]) + Base58Decoder.CheckDecode(text)[4:]))


BTC_ZPUB = account_xpub("m/84'/0'/0'", "zpub")
BTC_VPUB = account_xpub("m/84'/1'/0'", "vpub")
LTC_TTUB = account_xpub("m/84'/1'/0'", "ttub")  # Litecoin testnet/regtest: no separate regtest version
ETH_XPUB = account_xpub("m/44'/60'/0'", "xpub")
LTC_ZPUB = account_xpub("m/84'/2'/0'", "zpub")  # Electrum-LTC exports Litecoin accounts with zpub versions
WALLET_KEY = "test wallet key: long, random and never used anywhere else"
