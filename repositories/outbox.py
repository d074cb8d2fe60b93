import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import OutboxStatus
from models.ops import OutboxMessage
from repositories.broadcast import KIND as BROADCAST


@functools.cache
def _enqueue() -> Insert:
    """A Core INSERT, built once and run with each message's values: nothing reads the row back, so no ORM
    object to flush."""
    return insert(OutboxMessage.__table__)  # type: ignore[arg-type]


class OutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def enqueue(self, kind: str, chat_id: int, order_id: int | None = None, **params: Any) -> None:
        await self._s.execute(_enqueue(), {"kind": kind, "chat_id": chat_id, "order_id": order_id, "params": params})

    async def get(self, message_id: int) -> OutboxMessage:
        """Fresh from the database, also when the session holds an older copy."""
        message = await self._s.get(OutboxMessage, message_id, populate_existing=True)
        assert message is not None, message_id
        return message

    async def of_order(self, order_id: int) -> list[OutboxMessage]:
        stmt = select(OutboxMessage).where(OutboxMessage.order_id == order_id).order_by(OutboxMessage.id)
        return list((await self._s.execute(stmt)).scalars())

    async def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Oldest first, but order and admin messages before broadcast rows: a broadcast backlog (after
        a 429 or downtime) must not hold up a buyer's "paid" message."""
        result = await self._s.execute(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.pending, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.kind == BROADCAST, OutboxMessage.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def claim(self, message_id: int, now: datetime, until: datetime) -> bool:
        """Take a due message for sending until `until`, so no other process sends it meanwhile."""
        result = await self._s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == OutboxStatus.pending,
                OutboxMessage.next_attempt_at <= now,
            )
            .values(next_attempt_at=until, attempts=OutboxMessage.attempts + 1)
        )
        return getattr(result, "rowcount", 0) == 1

    async def finish(self, message_id: int, status: OutboxStatus, now: datetime, error: str | None = None) -> None:
        await self._s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.pending)
            .values(status=status, sent_at=now if status is OutboxStatus.sent else None, last_error=error)
        )

    async def retry_at(self, message_id: int, when: datetime, error: str) -> None:
        await self._s.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(next_attempt_at=when, last_error=error)
        )
