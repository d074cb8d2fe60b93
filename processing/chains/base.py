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
from services.payments.seen import ChainSnapshot


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
