"""What invoice addresses hold of their tokens now, for the merchant's sweeping view (services.admin.wallet)."""

import logging
from collections.abc import Mapping, Sequence

from models.enums import Chain
from processing.chains.base import ProviderError, TokenBackend
from services.payments.seen import TokenWatch

log = logging.getLogger(__name__)


class TokenHoldings:
    """services.admin.wallet.ChainHoldings over the token backends. A provider that fails answers None
    ("could not ask"), never 0."""

    def __init__(self, backends: Mapping[Chain, TokenBackend]) -> None:
        self._backends = backends

    async def balances(self, chain: Chain, held: Sequence[TokenWatch]) -> dict[str, int] | None:
        backend = self._backends.get(chain)
        if backend is None:
            return None
        try:
            return await backend.balances(held)
        except ProviderError as e:
            log.warning("%s: token balances unavailable: %s", chain, e)
            return None

    async def sweep_fee(self, chain: Chain) -> int | None:
        backend = self._backends.get(chain)
        if backend is None:
            return None
        try:
            return await backend.sweep_fee()
        except ProviderError as e:
            log.warning("%s: gas price unavailable: %s", chain, e)
            return None
