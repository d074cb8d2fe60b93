"""Payment hints received on the webhook, remembered by their sender's event id."""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import Chain
from models.ops import WebhookEvent
from repositories.base import insert_ignoring_conflict


class WebhookEventRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def forget_before(self, before: datetime) -> None:
        await self._s.execute(delete(WebhookEvent).where(WebhookEvent.received_at < before))

    async def record(self, event_id: str, chain: Chain, address: str, now: datetime) -> bool:
        """Store the event unless its id is known (ON CONFLICT DO NOTHING). True when it is new."""
        return await insert_ignoring_conflict(
            self._s,
            WebhookEvent.__table__,  # type: ignore[arg-type]
            {"event_id": event_id, "chain": chain, "address": address, "received_at": now},
            ["event_id"],
        )
