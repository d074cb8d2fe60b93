"""The one small interface every chain backend implements.

A backend is stateless towards the DB: `scan` reports what the chain shows *now* for the
given addresses, and the observer (services.payments.reconcile) reconciles that with what it stored.
Invoice addresses are fresh; a refund goes to the buyer's own address, which may have a long history,
so a scan can be told from which height on payments matter (`since`).
Any doubt -- HTTP error, 429, timeout, garbage -- raises ProviderError, which the observer
treats as "unknown", never as "nothing received".
"""

from collections.abc import Mapping, Sequence
from typing import Protocol

from models.enums import Chain
from services.payments.seen import ChainSnapshot, TokenWatch


class ProviderError(Exception):
    """The provider could not tell us the truth this time. The message never holds secrets.

    `retry_after`: the seconds the provider asked us to wait (HTTP 429 with Retry-After), else None.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChainBackend(Protocol):
    chain: Chain
    name: str  # "esplora", "core-rpc", "evm-rpc", "solana-rpc": used in metrics and health

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        """Make the backend able to see these addresses (core-rpc imports them). Idempotent.

        rescan_recent: the addresses may have been paid before this call (the bot was down when the
        invoice was made), so recent blocks are searched too.
        """

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        """Every payment to each address as the chain shows it now. Raises ProviderError.

        since: per address, a height (SOL: a slot) at or below which its payments do not matter. The
        backend may leave them out, and should where its history would otherwise be read in full; it may
        also report them, so callers filter by block_height themselves.
        """

    async def tip_height(self) -> int:
        """The height (SOL: the slot at the backend's commitment) of the newest block it knows: a payment
        sent after this call lands above it. Raises ProviderError."""

    async def close(self) -> None: ...


class TokenBackend(Protocol):
    """Token payments (ERC-20, SPL) on one chain, by the same rules: what the chain shows now, a requested
    address left out of the snapshot is unknown, and any doubt raises ProviderError. It watches invoice
    addresses only, each from its invoice's creation (`TokenWatch.since`): refunds are never paid in tokens
    (services.orders.refunds.sent_on_chain), so it needs neither a `since` height nor `tip_height`."""

    chain: Chain
    name: str  # "erc20-logs", "spl-token": used in metrics

    async def scan(self, wanted: Sequence[TokenWatch]) -> ChainSnapshot:
        """Every payment of each watched token to its address, by address. A transfer of another token to
        the address is no payment of it. Raises ProviderError."""

    async def balances(self, held: Sequence[TokenWatch]) -> dict[str, int]:
        """What each address holds of its token now, by address (for sweeping). Raises ProviderError."""

    async def sweep_fee(self) -> int:
        """About what moving one address's tokens to the merchant's wallet costs now, in base units of the
        chain's coin (see the backend's docstring). Raises ProviderError."""

    async def close(self) -> None: ...
