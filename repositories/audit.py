"""Who did what: one row per change an admin, a buyer or the shop itself made. Append-only."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.ops import AuditLog


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
        self._s.add(
            AuditLog(
                actor=actor,
                action=action,
                entity=entity,
                entity_id=entity_id,
                before=before,
                after=after,
                reason=reason,
            )
        )
        await self._s.flush()

    async def of(self, entity: str, entity_id: int) -> list[AuditLog]:
        """Everything recorded about one entity, oldest first."""
        stmt = select(AuditLog).where(AuditLog.entity == entity, AuditLog.entity_id == entity_id).order_by(AuditLog.id)
        return list((await self._s.execute(stmt)).scalars())
