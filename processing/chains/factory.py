"""Which backend watches which chain, from the settings."""

from collections.abc import Sequence

from config import ConfigError, Settings
from models.enums import Chain, Network
from processing.chains.base import ChainBackend
from processing.chains.core_rpc import CoreRpcBackend
from processing.chains.esplora import EsploraBackend
from processing.chains.evm_rpc import EvmRpcBackend
from processing.chains.solana_rpc import SolanaRpcBackend

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
            url = settings.eth_rpc_url.get_secret_value()
            if not url:
                raise ConfigError(
                    "ETH_RPC_URL: required to watch ETH payments (a node that serves historical balances)"
                )
            backends[chain] = EvmRpcBackend(url, settings.eth_confirmations, timeout)
        else:
            url = settings.sol_rpc_url.get_secret_value() or (
                SOLANA_MAINNET if settings.network is Network.mainnet else ""
            )
            if not url:
                raise ConfigError(f"SOL_RPC_URL: required on {settings.network}")
            backends[chain] = SolanaRpcBackend(url, settings.sol_commitment, timeout)
    return backends
