"""The merchant's wallet as the shop sees it: which chains are configured, their receive addresses, and the
assets buyers may pay in (each chain's coin, and the configured tokens on those chains)."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from config import Settings
from models.chains import CHAINS, Asset
from models.enums import Chain, Network
from services.wallet.hdwallet import AccountKey, SolAccountNode, WalletConfigError, parse_account_key
from services.wallet.secretbox import DecryptionError, read_sol_key_file

log = logging.getLogger(__name__)


class AddressMismatch(Exception):
    """A stored invoice address differs from what the configured keys derive: never show it to a buyer."""


@dataclass(frozen=True)
class Wallet:
    network: Network
    keys: Mapping[Chain, AccountKey]
    sol: SolAccountNode | None
    # ETH_TOKENS and SOL_TOKENS, each with the decimals its chain confirmed at startup
    # (processing.chains.tokens.confirm_tokens); tokens on a chain without keys are never offered.
    tokens: tuple[Asset, ...] = ()

    @property
    def chains(self) -> tuple[Chain, ...]:
        """The chains buyers may pay in: exactly those with key material configured."""
        return tuple(c for c in CHAINS if c in self.keys or (c is Chain.sol and self.sol is not None))

    @property
    def assets(self) -> tuple[Asset, ...]:
        """What buyers may pay in, in the order they see it: each configured chain's coin, then the tokens."""
        chains = self.chains
        return (*(CHAINS[c].native for c in chains), *(t for t in self.tokens if t.chain in chains))

    def asset(self, chain: Chain, symbol: str | None = None) -> Asset | None:
        """The offered asset `symbol` on `chain` (None or the chain's own symbol: its coin); None when it is
        not offered."""
        wanted = symbol or CHAINS[chain].symbol
        return next((a for a in self.assets if a.chain is chain and a.symbol == wanted), None)

    def address(self, chain: Chain, index: int) -> str:
        if chain is Chain.sol:
            if self.sol is None:
                raise WalletConfigError("SOL_KEY_FILE: SOL is not configured")
            return self.sol.address(index)
        if chain not in self.keys:
            raise WalletConfigError(f"{chain.upper()}_XPUB: {chain.upper()} is not configured")
        return self.keys[chain].address(index)

    def verify(self, chain: Chain, index: int, address: str) -> None:
        """Re-derive and compare before an address is shown. Raises AddressMismatch."""
        if self.address(chain, index) != address:
            raise AddressMismatch(f"{chain} index {index}: stored address does not match the configured key")


def load_wallet(settings: Settings) -> Wallet:
    """Parse every configured key. Raises WalletConfigError naming the variable on any problem."""
    keys = {}
    for chain, text in ((Chain.btc, settings.btc_xpub), (Chain.ltc, settings.ltc_xpub), (Chain.eth, settings.eth_xpub)):
        if text.strip():
            keys[chain] = parse_account_key(chain, settings.network, text, f"{chain.upper()}_XPUB")
    return Wallet(network=settings.network, keys=keys, sol=_load_sol(settings))


def _load_sol(settings: Settings) -> SolAccountNode | None:
    path = settings.sol_key_path
    if not path.exists():
        return None
    secret = settings.wallet_key.get_secret_value()
    if not secret:
        raise WalletConfigError(f"WALLET_KEY: needed to open SOL_KEY_FILE ({path})")
    try:
        return read_sol_key_file(path, secret)
    except DecryptionError:
        raise WalletConfigError("WALLET_KEY: cannot open SOL_KEY_FILE (wrong key or damaged file)") from None


def log_first_addresses(wallet: Wallet) -> None:
    """So the merchant can compare index 0 with what their own wallet shows."""
    for chain in wallet.chains:
        log.info("wallet %s (%s): index 0 address %s", CHAINS[chain].symbol, wallet.network, wallet.address(chain, 0))
    if not wallet.chains:
        log.warning("no chain is configured (BTC_XPUB, LTC_XPUB, ETH_XPUB, SOL_KEY_FILE): buyers cannot pay")
