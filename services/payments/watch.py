"""What handlers and the web app may ask of the payment observer, without importing processing: check
one address now, watch a new invoice address, and each chain provider's health.

processing.observer.Observer implements PaymentWatch; the composition root injects it as `payment_watch`.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.enums import Chain

FAILING_AFTER = 3  # provider failures in a row after which a chain counts as failing


@dataclass(frozen=True, slots=True)
class ChainHealth:
    """One configured chain's provider, as this process last saw it."""

    chain: Chain
    backend: str
    last_ok_age_seconds: float | None  # since the provider last answered (cycle or check); None: never
    failures: int  # in a row
    last_cycle_seconds: float  # duration of the last complete observer cycle; 0 before the first

    @property
    def failing(self) -> bool:
        """The one rule for "this provider is failing": the admin panel, /healthz and /metrics use it."""
        return self.failures >= FAILING_AFTER


class PaymentWatch(Protocol):
    async def check_address(self, chain: Chain, address: str) -> bool | None:
        """Look at one invoice address now and apply what the chain shows, as a cycle would.

        True when the address belongs to an invoice and the chain answered; False for an unknown
        address; None when the provider could not tell ("unknown", nothing changes)."""
        ...

    async def watch_invoice(self, chain: Chain, address: str) -> None:
        """Start watching a new invoice address before the buyer sees it. Best effort, never raises
        for a provider failure: the next cycle picks the address up."""
        ...

    def chain_health(self, now: datetime) -> list[ChainHealth]:
        """One entry per configured chain, in configuration order (this process's view)."""
        ...
