"""ETH_TOKENS and SOL_TOKENS as the chain shows them, checked once at startup.

Decimals are never taken on trust: amounts due are counted in a token's base units, so a wrong count of
decimals would ask for a million times too much or too little. Each contract is asked `decimals()`
(`eth_call`), each mint is read (`getMultipleAccounts`, base64: byte 44 of the 82-byte Token-program mint,
after the authority and the supply). On mainnet a token must be the known contract of its symbol
(models.chains.TOKENS), with the known decimals; anything else stops the bot with a message naming the
setting, before a buyer sees a price.
"""

import base64
from collections.abc import Sequence
from typing import Any

from config import ConfigError, Settings
from models.chains import CHAINS, TOKENS, Asset
from models.enums import Chain, Network
from processing.chains.factory import eth_rpc_url, sol_rpc_url
from processing.chains.http import HttpClient, RpcError, expect_shape, hex_int
from services.wallet.spl import SPL_PROGRAM

DECIMALS = "0x313ce567"  # the selector of ERC-20 decimals()
MAX_DECIMALS = 36  # more is no currency anyone prices
MINT_SIZE = 82  # a Token-program mint: authority (36), supply (8), decimals (1), initialized (1), freeze (36)
SETTING = {Chain.eth: "ETH_TOKENS", Chain.sol: "SOL_TOKENS"}


async def confirm_tokens(settings: Settings, chains: Sequence[Chain]) -> tuple[Asset, ...]:
    """The configured tokens with the decimals their chain reports, ETH's first. Raises ConfigError naming the
    setting for a token on a chain without keys (`chains`), an address that is no token, or (mainnet) a
    contract or decimals other than the known ones; ProviderError when the chain cannot be asked now."""
    assets: list[Asset] = []
    for chain, configured, read in (
        (Chain.eth, settings.eth_tokens, _erc20_decimals),
        (Chain.sol, settings.sol_tokens, _mint_decimals),
    ):
        if not configured:
            continue
        if chain not in chains:
            key = "ETH_XPUB" if chain is Chain.eth else "SOL_KEY_FILE"
            raise ConfigError(f"{SETTING[chain]}: tokens are paid to {CHAINS[chain].symbol} addresses; set {key} too")
        url = eth_rpc_url(settings) if chain is Chain.eth else sol_rpc_url(settings)
        rpc = HttpClient(url, settings.provider_timeout_seconds)
        try:
            decimals = await read(rpc, list(configured.values()))
        finally:
            await rpc.close()
        for (symbol, token), found in zip(configured.items(), decimals, strict=True):
            assets.append(_checked(settings, Asset(chain, symbol, found, token)))
    return tuple(assets)


def _checked(settings: Settings, asset: Asset) -> Asset:
    known = TOKENS[asset.symbol].mainnet.get(asset.chain)
    if settings.network is not Network.mainnet or known is None:
        return asset
    setting, (token, decimals) = SETTING[asset.chain], known
    if asset.token != token:
        raise ConfigError(f"{setting}: {asset.symbol} on {asset.network} mainnet is {token}, not {asset.token}")
    if asset.decimals != decimals:
        raise ConfigError(
            f"{setting}: {asset.symbol} ({token}) reports {asset.decimals} decimals, not {decimals}: "
            "is the RPC URL a mainnet node?"
        )
    return asset


async def _erc20_decimals(rpc: HttpClient, contracts: list[str]) -> list[int]:
    calls = [("eth_call", [{"to": c, "data": DECIMALS}, "latest"]) for c in contracts]
    calls += [("eth_getCode", [c, "latest"]) for c in contracts]
    results = await rpc.batch_each(calls)
    answers, codes = results[: len(contracts)], results[len(contracts) :]
    found = []
    for contract, answer, code in zip(contracts, answers, codes, strict=True):
        if isinstance(code, RpcError):
            raise code
        if code in ("0x", "0x0", None):
            raise ConfigError(f"ETH_TOKENS: {contract} is not a contract on the ETH_RPC_URL node")
        decimals = _word(answer)
        if decimals is None:
            raise ConfigError(f"ETH_TOKENS: {contract} does not answer decimals(): not an ERC-20 token")
        found.append(decimals)
    return found


def _word(answer: Any) -> int | None:
    """A uint8 returned by decimals(): one 32-byte word holding at most MAX_DECIMALS; None for anything else."""
    if isinstance(answer, RpcError) or not isinstance(answer, str) or len(answer) != 66:
        return None
    with expect_shape("eth_call decimals()"):
        value = hex_int(answer)
    return value if value <= MAX_DECIMALS else None


async def _mint_decimals(rpc: HttpClient, mints: list[str]) -> list[int]:
    answer = await rpc.call("getMultipleAccounts", [mints, {"encoding": "base64", "commitment": "finalized"}])
    found = []
    with expect_shape("getMultipleAccounts"):
        accounts = answer["value"]
        for mint, account in zip(mints, accounts, strict=True):
            if account is None:
                raise ConfigError(f"SOL_TOKENS: {mint} is no account on the SOL_RPC_URL cluster")
            data = base64.b64decode(account["data"][0])
            if account["owner"] != SPL_PROGRAM or len(data) != MINT_SIZE or data[45] != 1:
                raise ConfigError(
                    f"SOL_TOKENS: {mint} is not a mint of the Token program (Token-2022 mints are not supported)"
                )
            found.append(data[44])
    return found
