"""What handlers and services may ask of the payment observer, without importing processing: the buyer's
"check now", watch a new invoice address, watch and look at a refund's address, and each chain provider's
health.

processing.observer.Observer implements PaymentWatch; the composition root injects it as `payment_watch`.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.enums import Chain
from services.payments.seen import SeenPayment

FAILING_AFTER = 3  # provider failures in a row after which a chain counts as failing


@dataclass(frozen=True, slots=True)
class ChainHealth:
    """One configured chain's provider, as this process last saw it."""

    chain: Chain
    backend: str
    last_ok_age_seconds: float | None  # since the provider last answered a cycle; None: never
    failures: int  # in a row
    last_cycle_seconds: float  # duration of the last complete observer cycle; 0 before the first

    @property
    def failing(self) -> bool:
        """The one rule for "this provider is failing": the admin panel, /healthz and /metrics use it."""
        return self.failures >= FAILING_AFTER


class PaymentWatch(Protocol):
    async def check_now(self, chain: Chain, address: str) -> bool | None:
        """The buyer's "I've paid, check now": look at one invoice address and apply what the chain shows,
        at most once per CHECK_NOW_SECONDS for that address. A payment it does not see counts no miss
        towards a reorg, and a failure never touches the observer's backoff, so taps cannot stall anyone.

        None when the provider could not tell, or is being left alone after a failure ("unknown", nothing
        changes); otherwise True, also for a tap inside CHECK_NOW_SECONDS, which asks nothing (what is
        stored is the answer), and False for an address no invoice has."""
        ...

    async def watch_invoice(self, chain: Chain, address: str) -> None:
        """Start watching a new invoice address before the buyer sees it. Best effort, never raises
        for a provider failure: the next cycle picks the address up."""
        ...

    async def watch_refund(self, chain: Chain, address: str) -> int | None:
        """Start watching a refund's address (the buyer's own) and return the chain's height now: the
        refund's payment will be in a later block. None when the provider could not be asked (or `chain`
        is not watched): the refund cannot be watched yet."""
        ...

    async def scan_refund(self, chain: Chain, address: str, since: int) -> list[SeenPayment] | None:
        """What the chain shows now at a refund's address, from above height `since` (older payments may
        be in it too). None when the provider could not tell, or is being left alone after a failure."""
        ...

    def chain_health(self, now: datetime) -> list[ChainHealth]:
        """One entry per configured chain, in configuration order (this process's view)."""
        ...
