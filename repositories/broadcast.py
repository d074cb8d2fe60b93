"""Broadcasts: a "broadcast.start" audit row is the record, one outbox row per recipient its progress.

The outbox sender (processing.outbox.OutboxSender) delivers kind "broadcast" rows like any other message,
so a broadcast survives restarts exactly as notifications do. Flushes, never commits.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.enums import OutboxStatus
from models.ops import AuditLog, OutboxMessage
from models.shop import User

KIND = ENTITY = "broadcast"  # the outbox kind, and the audit entity (ix_audit_log_entity keeps lookups cheap)
STARTED, FINISHED = "broadcast.start", "broadcast.finish"
INSERT_CHUNK = 1000
_LOCK_KEY = int.from_bytes(b"bcast", "big")  # pg_advisory_xact_lock key
_RECIPIENT = and_(User.blocked_bot.is_(False), User.is_banned.is_(False))  # who a broadcast goes to


class BroadcastRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lock(self) -> None:
        """Serialise broadcast starts until commit (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
        if self._s.get_bind().dialect.name == "postgresql":
            await self._s.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))

    async def started_from(self, origin: str) -> AuditLog | None:
        """The broadcast already started from this preview message, if any."""
        result = await self._s.execute(
            select(AuditLog).where(AuditLog.entity == ENTITY, AuditLog.action == STARTED, AuditLog.reason == origin)
        )
        return result.scalars().first()

    async def recipients(self) -> list[int]:
        """Telegram ids of every user who has not blocked the bot and is not banned."""
        result = await self._s.execute(select(User.telegram_id).where(_RECIPIENT).order_by(User.id))
        return [int(i) for i in result.scalars()]

    async def count_recipients(self) -> int:
        return int((await self._s.execute(select(func.count()).where(_RECIPIENT))).scalar_one())

    async def start(self, actor: str, origin: str, record: dict[str, Any]) -> AuditLog:
        """The broadcast's record; its id is the broadcast's id (and its own entity_id)."""
        row = AuditLog(actor=actor, action=STARTED, entity=ENTITY, reason=origin, after=record)
        self._s.add(row)
        await self._s.flush()
        row.entity_id = row.id
        await self._s.flush()
        return row

    async def enqueue(
        self, broadcast_id: int, text: str, chat_ids: Sequence[int], first_at: datetime, per_second: float
    ) -> tuple[int, int]:
        """One pending outbox row per chat, due `per_second` apart; returns the range of their ids."""
        before = await self._max_outbox_id()
        for start in range(0, len(chat_ids), INSERT_CHUNK):
            await self._s.execute(
                insert(OutboxMessage),
                [
                    {
                        "kind": KIND,
                        "chat_id": chat_id,
                        "params": {"broadcast_id": broadcast_id, "text": text},
                        "status": OutboxStatus.pending,
                        "attempts": 0,
                        "created_at": first_at,
                        "next_attempt_at": first_at + timedelta(seconds=(start + i) / per_second),
                    }
                    for i, chat_id in enumerate(chat_ids[start : start + INSERT_CHUNK])
                ],
            )
        return before + 1, await self._max_outbox_id()

    async def counts(self, broadcast_id: int, first_id: int, last_id: int) -> dict[OutboxStatus, int]:
        """Its outbox rows per status; the id range keeps this an index range scan."""
        result = await self._s.execute(
            select(OutboxMessage.status, func.count())
            .where(
                OutboxMessage.id.between(first_id, last_id),
                OutboxMessage.kind == KIND,
                OutboxMessage.params["broadcast_id"].as_integer() == broadcast_id,
            )
            .group_by(OutboxMessage.status)
        )
        counts = {OutboxStatus(status): int(n) for status, n in result.all()}
        return {status: counts.get(status, 0) for status in OutboxStatus}

    async def unfinished(self, since: datetime) -> list[AuditLog]:
        """Broadcasts started since `since` that have no finish row yet, oldest first."""
        finish = aliased(AuditLog)
        result = await self._s.execute(
            select(AuditLog)
            .outerjoin(
                finish, and_(finish.entity == ENTITY, finish.entity_id == AuditLog.id, finish.action == FINISHED)
            )
            .where(
                AuditLog.entity == ENTITY, AuditLog.action == STARTED, AuditLog.created_at >= since, finish.id.is_(None)
            )
            .order_by(AuditLog.id)
        )
        return list(result.scalars())

    async def finish(self, actor: str, broadcast_id: int, after: dict[str, Any]) -> bool:
        """Record the end once; False when it was already recorded."""
        done = await self._s.execute(
            select(AuditLog.id).where(
                AuditLog.entity == ENTITY, AuditLog.entity_id == broadcast_id, AuditLog.action == FINISHED
            )
        )
        if done.first() is not None:
            return False
        self._s.add(AuditLog(actor=actor, action=FINISHED, entity=ENTITY, entity_id=broadcast_id, after=after))
        await self._s.flush()
        return True

    async def _max_outbox_id(self) -> int:
        return int((await self._s.execute(select(func.coalesce(func.max(OutboxMessage.id), 0)))).scalar_one())
