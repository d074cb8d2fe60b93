from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.ops import Lease
from repositories.base import insert_ignoring_conflict


class LeaseRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def acquire(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease when it is ours or has run out. True when we hold it."""
        if await insert_ignoring_conflict(
            self._s,
            Lease.__table__,  # type: ignore[arg-type]
            {"name": name, "holder": holder, "expires_at": until},
            ["name"],
        ):
            return True
        result = await self._s.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=until)
        )
        return getattr(result, "rowcount", 0) == 1
