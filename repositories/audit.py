"""Who did what: one row per change an admin, a buyer or the shop itself made. Append-only."""

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.ops import AuditLog


@functools.cache
def _append() -> Insert:
    """A Core INSERT into the log, built once and run with each row's values: nothing reads the row back, so
    no ORM object to flush, and every change of an order writes one."""
    return insert(AuditLog.__table__)  # type: ignore[arg-type]


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def record(
        self,
        actor: str,
        action: str,
        entity: str,
        entity_id: int | None,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        await self._s.execute(
            _append(),
            {
                "actor": actor,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "before": before,
                "after": after,
                "reason": reason,
            },
        )

    async def count(self, actor: str, action: str, *, since: datetime) -> int:
        """How often `actor` did `action` since then."""
        stmt = select(func.count()).where(
            AuditLog.actor == actor, AuditLog.action == action, AuditLog.created_at >= since
        )
        return int((await self._s.execute(stmt)).scalar_one())

    async def of(self, entity: str, entity_id: int) -> list[AuditLog]:
        """Everything recorded about one entity, oldest first."""
        stmt = select(AuditLog).where(AuditLog.entity == entity, AuditLog.entity_id == entity_id).order_by(AuditLog.id)
        return list((await self._s.execute(stmt)).scalars())
