"""The outbox, queueing side: messages are queued inside the transaction that caused them, so they go
out exactly when that change commits (services.delivery and processing.outbox send them afterwards)."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.orders import Order
from models.shop import User
from repositories.outbox import OutboxRepo


async def notify_buyer(session: AsyncSession, order: Order, kind: str, **params: Any) -> None:
    telegram_id = (await session.execute(select(User.telegram_id).where(User.id == order.user_id))).scalar_one()
    await OutboxRepo(session).enqueue(kind, telegram_id, order.id, **params)


async def notify_admins(
    session: AsyncSession, admin_ids: frozenset[int], kind: str, order_id: int | None, **params: Any
) -> None:
    repo = OutboxRepo(session)
    for admin_id in sorted(admin_ids):
        await repo.enqueue(kind, admin_id, order_id, **params)
