"""Every fact about a coin that does not need its chain backend, one row per `Chain`, and the tokens a shop
can take on those chains.

A `Chain` is a network (Bitcoin, Ethereum, Solana, ...); an `Asset` is what an invoice is paid in: the
network's own coin, or a token on it (USDT on Ethereum is paid to an Ethereum address from ETH_XPUB, counted
in the token's own units and priced at the token's rate).

A new coin is a row in CHAINS plus a backend in processing/chains; a new token symbol is a row in TOKENS.
`config` reads this module, so it imports nothing but `models.enums` and the standard library (no ORM, no
services).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from models.enums import Chain, Network

_HEX_TX = r"^[0-9a-fA-F]{64}$"


@dataclass(frozen=True)
class ChainFacts:
    """One coin's facts. Everything per chain that is neither a setting nor protocol code lives here."""

    chain: Chain
    symbol: str  # what buyers and admins read next to an amount: "BTC"
    network: str  # the network's name, as wallets show it: "Ethereum"
    decimals: int  # one coin is 10**decimals base units (sat, litoshi, wei, lamports)
    uri_scheme: str  # of the payment URI: BIP21 for btc/ltc, EIP-681 for eth, Solana Pay for sol
    coin_type: int  # BIP44/SLIP-44 coin type on mainnet
    test_coin_type: int  # on testnet and regtest: 1 for Bitcoin-like chains, as their wallets derive
    bech32_hrp: Mapping[Network, str]  # address prefix of native segwit; empty where addresses are not bech32
    # Version bytes of base58check addresses (P2PKH, P2SH) a wallet may give; empty where there are none
    base58_versions: Mapping[Network, frozenset[int]]
    explorers: Mapping[Network, str]  # transaction page; {tx} is the transaction id, {cluster} the SOL test cluster
    # EVM testnets share one Network value and are told apart by their chain id (ETH_CHAIN_ID).
    evm_testnet_explorers: Mapping[int, str]
    tx_pattern: str  # a transaction id the explorers know (a payment's natural id may carry a suffix)
    coingecko_id: str
    kraken_asset: str  # Kraken's own name: XBT, not BTC
    coinbase_symbol: str
    default_confirmations: int  # depth at which a payment counts unless <CHAIN>_CONFIRMATIONS says otherwise
    # The least a payment can be. SOL: the rent-exempt minimum of a 0-byte account (0.00089088 SOL); a transfer
    # leaving a new account below it fails on chain, so the buyer could not pay less at all.
    min_payment: int

    def bip44_coin_type(self, network: Network) -> int:
        return self.coin_type if network is Network.mainnet else self.test_coin_type

    @property
    def native(self) -> "Asset":
        """The network's own coin as an asset."""
        return Asset(self.chain, self.symbol, self.decimals)


@dataclass(frozen=True, slots=True)
class Asset:
    """What an invoice is paid in: a network's own coin (`token` None), or a token on that network.

    Invoices store these four facts, locked at checkout like the rate, so an invoice is read the same way
    after its token has left the settings.
    """

    chain: Chain  # the network: where the address comes from and which backend watches it
    symbol: str  # "ETH", "USDT": the price symbol too
    decimals: int  # one unit of the asset is 10**decimals base units
    token: str | None = None  # the ERC-20 contract (0x + 40 lowercase hex) or the SPL mint (base58)

    @property
    def min_payment(self) -> int:
        """The least a payment can be (see ChainFacts.min_payment); a token transfer has no minimum."""
        return CHAINS[self.chain].min_payment if self.token is None else 1

    @property
    def network(self) -> str:
        return CHAINS[self.chain].network

    @property
    def label(self) -> str:
        """What a buyer picks: "ETH" for a network's coin, "USDT · Ethereum" for a token, whose network
        matters (USDT sent on another network is lost)."""
        return self.symbol if self.token is None else f"{self.symbol} · {CHAINS[self.chain].network}"


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """One token symbol a shop may accept: where the price APIs quote it, and its contract (or mint) on each
    network's mainnet, with the decimals the chain must confirm at startup."""

    symbol: str
    coingecko_id: str
    kraken_asset: str
    coinbase_symbol: str
    mainnet: Mapping[Chain, tuple[str, int]]  # (contract or mint as ETH_TOKENS / SOL_TOKENS write it, decimals)


# In the order buyers see the coins.
CHAINS: Mapping[Chain, ChainFacts] = {
    row.chain: row
    for row in (
        ChainFacts(
            chain=Chain.btc,
            symbol="BTC",
            network="Bitcoin",
            decimals=8,
            uri_scheme="bitcoin",
            coin_type=0,
            test_coin_type=1,
            bech32_hrp={Network.mainnet: "bc", Network.testnet: "tb", Network.regtest: "bcrt"},
            base58_versions={
                Network.mainnet: frozenset({0x00, 0x05}),
                Network.testnet: frozenset({0x6F, 0xC4}),
                Network.regtest: frozenset({0x6F, 0xC4}),
            },
            explorers={
                Network.mainnet: "https://mempool.space/tx/{tx}",
                Network.testnet: "https://mempool.space/testnet/tx/{tx}",
            },
            evm_testnet_explorers={},
            tx_pattern=_HEX_TX,
            coingecko_id="bitcoin",
            kraken_asset="XBT",
            coinbase_symbol="BTC",
            default_confirmations=1,
            min_payment=1,
        ),
        ChainFacts(
            chain=Chain.ltc,
            symbol="LTC",
            network="Litecoin",
            decimals=8,
            uri_scheme="litecoin",
            coin_type=2,
            test_coin_type=1,
            bech32_hrp={Network.mainnet: "ltc", Network.testnet: "tltc", Network.regtest: "rltc"},
            # L… and M…; Litecoin's old 3… P2SH is Bitcoin's too, so it is read as Bitcoin's
            base58_versions={
                Network.mainnet: frozenset({0x30, 0x32}),
                Network.testnet: frozenset({0x6F, 0x3A}),
                Network.regtest: frozenset({0x6F, 0x3A}),
            },
            explorers={
                Network.mainnet: "https://litecoinspace.org/tx/{tx}",
                Network.testnet: "https://litecoinspace.org/testnet/tx/{tx}",
            },
            evm_testnet_explorers={},
            tx_pattern=_HEX_TX,
            coingecko_id="litecoin",
            kraken_asset="LTC",
            coinbase_symbol="LTC",
            default_confirmations=2,
            min_payment=1,
        ),
        ChainFacts(
            chain=Chain.eth,
            symbol="ETH",
            network="Ethereum",
            decimals=18,
            uri_scheme="ethereum",
            coin_type=60,
            test_coin_type=60,
            bech32_hrp={},
            base58_versions={},
            explorers={Network.mainnet: "https://etherscan.io/tx/{tx}"},
            evm_testnet_explorers={
                11155111: "https://sepolia.etherscan.io/tx/{tx}",
                17000: "https://holesky.etherscan.io/tx/{tx}",
                560048: "https://hoodi.etherscan.io/tx/{tx}",
            },
            tx_pattern=r"^0x[0-9a-fA-F]{64}$",
            coingecko_id="ethereum",
            kraken_asset="ETH",
            coinbase_symbol="ETH",
            default_confirmations=12,
            min_payment=1,
        ),
        ChainFacts(
            chain=Chain.sol,
            symbol="SOL",
            network="Solana",
            decimals=9,
            uri_scheme="solana",
            coin_type=501,
            test_coin_type=501,
            bech32_hrp={},
            base58_versions={},
            explorers={
                Network.mainnet: "https://solscan.io/tx/{tx}",
                Network.testnet: "https://solscan.io/tx/{tx}?cluster={cluster}",
            },
            evm_testnet_explorers={},
            tx_pattern=r"^[1-9A-HJ-NP-Za-km-z]{64,100}$",  # a base58 signature
            coingecko_id="solana",
            kraken_asset="SOL",
            coinbase_symbol="SOL",
            default_confirmations=1,  # SOL has finality instead: one means SOL_COMMITMENT reached
            min_payment=890_880,
        ),
    )
}


# Each known token symbol, with its canonical mainnet contracts. On mainnet a configured token must be one of
# these (a look-alike contract would price and credit something else); on testnet and regtest any contract
# or mint is accepted, and its decimals are whatever the chain says.
TOKENS: Mapping[str, TokenFacts] = {
    row.symbol: row
    for row in (
        TokenFacts(
            symbol="USDT",
            coingecko_id="tether",
            kraken_asset="USDT",
            coinbase_symbol="USDT",
            mainnet={
                Chain.eth: ("0xdac17f958d2ee523a2206206994597c13d831ec7", 6),
                Chain.sol: ("Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6),
            },
        ),
        TokenFacts(
            symbol="USDC",
            coingecko_id="usd-coin",
            kraken_asset="USDC",
            coinbase_symbol="USDC",
            mainnet={
                Chain.eth: ("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", 6),
                Chain.sol: ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
            },
        ),
    )
}
TOKEN_CHAINS = (Chain.eth, Chain.sol)  # the networks whose tokens a shop can take (ETH_TOKENS, SOL_TOKENS)


@dataclass(frozen=True, slots=True)
class PriceIds:
    """Where the price APIs quote one symbol, a coin's or a token's."""

    symbol: str
    coingecko_id: str
    kraken_asset: str  # Kraken's own name: XBT, not BTC
    coinbase_symbol: str


PRICED: Mapping[str, PriceIds] = {
    row.symbol: row
    for row in (
        *(PriceIds(c.symbol, c.coingecko_id, c.kraken_asset, c.coinbase_symbol) for c in CHAINS.values()),
        *(PriceIds(t.symbol, t.coingecko_id, t.kraken_asset, t.coinbase_symbol) for t in TOKENS.values()),
    )
}
