from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditLog


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
