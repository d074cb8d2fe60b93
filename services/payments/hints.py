"""Payment hints from the webhook: remembered once, so a replayed event triggers nothing."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import Chain
from repositories.webhook_events import WebhookEventRepo


@dataclass(frozen=True, slots=True)
class PaymentHint:
    """'Look at this address now.' Carries no amount: the chain check decides what was paid."""

    event_id: str
    chain: Chain
    address: str
    txid: str | None


class HintService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(self, hint: PaymentHint, now: datetime, tolerance_seconds: int) -> bool:
        """Store the hint's event id in its own transaction. True the first time; False for a replay,
        which changes nothing. Idempotent and race-free (a unique key decides between racers).

        Ids older than twice the timestamp tolerance are forgotten on the way: a replay of such an event
        carries its old signed timestamp and is refused before it gets here, so the table stays as small
        as the hints of a few minutes."""
        async with self._session.begin():
            repo = WebhookEventRepo(self._session)
            await repo.forget_before(now - timedelta(seconds=2 * tolerance_seconds))
            return await repo.record(hint.event_id, hint.chain, hint.address, now)
