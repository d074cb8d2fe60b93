"""Links to public block explorers, for admins checking a payment by eye. None on regtest: no public
explorer knows a private chain."""

import re

from models.chains import CHAINS
from models.enums import Chain, Network


def tx_id(natural_id: str) -> str:
    """The transaction behind a payment's natural id: "txid:vout" (btc/ltc), "signature:address" (sol),
    "hash:log index" (ERC-20) and "signature:token account" (SPL) drop the suffix; an ETH internal transfer
    ("address@height") has no transaction of its own."""
    return natural_id.split(":", 1)[0]


def tx_url(
    chain: Chain, network: Network, natural_id: str, *, eth_chain_id: int = 1, sol_testnet_cluster: str = "devnet"
) -> str | None:
    """The explorer page of the payment's transaction, or None (regtest, unknown testnet, no tx id)."""
    facts = CHAINS[chain]
    tx = tx_id(natural_id)
    if not re.match(facts.tx_pattern, tx):
        return None
    if network is Network.testnet and facts.evm_testnet_explorers:
        template = facts.evm_testnet_explorers.get(eth_chain_id)
    else:
        template = facts.explorers.get(network)
    return template.format(tx=tx, cluster=sol_testnet_cluster) if template else None
