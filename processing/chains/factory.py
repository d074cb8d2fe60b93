"""Which backend watches which chain, from the settings."""

from collections.abc import Sequence

from config import ConfigError, Settings
from models.enums import Chain, Network
from processing.chains.base import ChainBackend, TokenBackend
from processing.chains.core_rpc import CoreRpcBackend
from processing.chains.erc20 import Erc20Backend
from processing.chains.esplora import EsploraBackend
from processing.chains.evm_rpc import EvmRpcBackend
from processing.chains.solana_rpc import SolanaRpcBackend
from processing.chains.spl_token import SplTokenBackend

ESPLORA_DEFAULTS = {
    (Chain.btc, Network.mainnet): "https://mempool.space/api",
    (Chain.btc, Network.testnet): "https://mempool.space/testnet/api",
    (Chain.ltc, Network.mainnet): "https://litecoinspace.org/api",
    (Chain.ltc, Network.testnet): "https://litecoinspace.org/testnet/api",
}
SOLANA_MAINNET = "https://api.mainnet-beta.solana.com"


def build_backends(settings: Settings, chains: Sequence[Chain]) -> dict[Chain, ChainBackend]:
    """One backend per chain to watch. Raises ConfigError naming the missing setting."""
    backends: dict[Chain, ChainBackend] = {}
    timeout = settings.provider_timeout_seconds
    for chain in chains:
        if chain in (Chain.btc, Chain.ltc):
            kind = settings.btc_backend if chain is Chain.btc else settings.ltc_backend
            name = chain.upper()
            if kind == "core-rpc":
                url = (settings.btc_rpc_url if chain is Chain.btc else settings.ltc_rpc_url).get_secret_value()
                if not url:
                    raise ConfigError(f"{name}_RPC_URL: required with {name}_BACKEND=core-rpc")
                backends[chain] = CoreRpcBackend(chain, url, timeout)
            else:
                url = (
                    settings.btc_esplora_url if chain is Chain.btc else settings.ltc_esplora_url
                ) or ESPLORA_DEFAULTS.get((chain, settings.network), "")
                if not url:
                    raise ConfigError(f"{name}_ESPLORA_URL: required on {settings.network}")
                backends[chain] = EsploraBackend(chain, url, timeout)
        elif chain is Chain.eth:
            backends[chain] = EvmRpcBackend(eth_rpc_url(settings), settings.eth_confirmations, timeout)
        else:
            backends[chain] = SolanaRpcBackend(sol_rpc_url(settings), settings.sol_commitment, timeout)
    return backends


def build_token_backends(settings: Settings, chains: Sequence[Chain]) -> dict[Chain, TokenBackend]:
    """One token backend per watched chain that has tokens (ETH, SOL), whether or not tokens are configured
    now: the invoices name their contracts, so a token removed from the settings is still watched."""
    timeout = settings.provider_timeout_seconds
    backends: dict[Chain, TokenBackend] = {}
    if Chain.eth in chains:
        backends[Chain.eth] = Erc20Backend(eth_rpc_url(settings), settings.eth_confirmations, timeout)
    if Chain.sol in chains:
        backends[Chain.sol] = SplTokenBackend(sol_rpc_url(settings), settings.sol_commitment, timeout)
    return backends


def eth_rpc_url(settings: Settings) -> str:
    url = settings.eth_rpc_url.get_secret_value()
    if not url:
        raise ConfigError("ETH_RPC_URL: required to watch ETH payments (a node that serves historical balances)")
    return url


def sol_rpc_url(settings: Settings) -> str:
    url = settings.sol_rpc_url.get_secret_value() or (SOLANA_MAINNET if settings.network is Network.mainnet else "")
    if not url:
        raise ConfigError(f"SOL_RPC_URL: required on {settings.network}")
    return url
