"""What a chain backend reports: the payments it sees now. Backends (processing.chains) produce these;
services.payments.reconcile compares them with what is stored."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TokenWatch:
    """A token invoice to look at: payments of `token` (the ERC-20 contract or the SPL mint) to `address`.
    None can be older than `since`, the invoice's creation: nobody knew the address before."""

    address: str
    token: str
    since: datetime


@dataclass(frozen=True, slots=True)
class SeenPayment:
    # btc/ltc "txid:vout"; eth tx hash (or see evm_rpc); sol "signature:address";
    # ERC-20 "txhash:log index"; SPL "signature:token account"
    natural_id: str
    address: str
    amount: int  # base units: sat, litoshi, wei, lamport, or the token's
    confirmations: int  # 0 while in the mempool / not yet at the backend's commitment
    block_height: int | None
    block_hash: str | None


@dataclass(frozen=True, slots=True)
class ChainSnapshot:
    tip_height: int
    # An empty list means the chain shows nothing for that address. A requested address that is not a
    # key is unknown this time (the provider could answer for the others, not for it): nothing may be
    # concluded for it, least of all that it received nothing.
    payments: dict[str, list[SeenPayment]]
