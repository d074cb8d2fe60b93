"""What a chain backend reports: the payments it sees now. Backends (processing.chains) produce these;
services.payments.reconcile compares them with what is stored."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeenPayment:
    natural_id: str  # btc/ltc "txid:vout"; eth tx hash (or see evm_rpc); sol "signature:address"
    address: str
    amount: int  # base units: sat, litoshi, wei, lamport
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
