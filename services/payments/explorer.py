"""Links to public block explorers, for admins checking a payment by eye. None on regtest: no public
explorer knows a private chain."""

import re

from models.enums import Chain, Network

_HEX_TX = re.compile(r"^[0-9a-fA-F]{64}$")
_ETH_TX = re.compile(r"^0x[0-9a-fA-F]{64}$")
_SOL_SIG = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{64,100}$")
_ETHERSCAN = {
    1: "https://etherscan.io",
    11155111: "https://sepolia.etherscan.io",
    17000: "https://holesky.etherscan.io",
    560048: "https://hoodi.etherscan.io",
}


def tx_id(natural_id: str) -> str:
    """The transaction behind a payment's natural id: "txid:vout" (btc/ltc) and "signature:address"
    (sol) drop the suffix; an ETH internal transfer ("address@height") has no transaction of its own."""
    return natural_id.split(":", 1)[0]


def tx_url(
    chain: Chain, network: Network, natural_id: str, *, eth_chain_id: int = 1, sol_testnet_cluster: str = "devnet"
) -> str | None:
    """The explorer page of the payment's transaction, or None (regtest, unknown testnet, no tx id)."""
    if network is Network.regtest:
        return None
    tx = tx_id(natural_id)
    testnet = network is Network.testnet
    if chain in (Chain.btc, Chain.ltc):
        if not _HEX_TX.match(tx):
            return None
        host = "https://mempool.space" if chain is Chain.btc else "https://litecoinspace.org"
        return f"{host}/testnet/tx/{tx}" if testnet else f"{host}/tx/{tx}"
    if chain is Chain.eth:
        base = _ETHERSCAN.get(eth_chain_id if testnet else 1)
        return f"{base}/tx/{tx}" if base and _ETH_TX.match(tx) else None
    if not _SOL_SIG.match(tx):
        return None
    return f"https://solscan.io/tx/{tx}?cluster={sol_testnet_cluster}" if testnet else f"https://solscan.io/tx/{tx}"
