"""The outbox, queueing side: messages are queued inside the transaction that caused them, so they go
out exactly when that change commits (services.delivery and processing.outbox send them afterwards)."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import OrderStatus
from models.orders import Order
from models.shop import User
from repositories.orders import OrderRepo
from repositories.outbox import OutboxRepo

INVOICE_CLOSED = "invoice_closed"  # an edit of an invoice message the buyer holds, not a new message


async def notify_buyer(session: AsyncSession, order: Order, kind: str, **params: Any) -> None:
    telegram_id = (await session.execute(select(User.telegram_id).where(User.id == order.user_id))).scalar_one()
    await OutboxRepo(session).enqueue(kind, telegram_id, order.id, **params)


async def notify_admins(
    session: AsyncSession, admin_ids: frozenset[int], kind: str, order_id: int | None, **params: Any
) -> None:
    repo = OutboxRepo(session)
    for admin_id in sorted(admin_ids):
        await repo.enqueue(kind, admin_id, order_id, **params)


async def close_invoice_messages(session: AsyncSession, order_id: int, status: OrderStatus) -> None:
    """The order no longer awaits payment (it is now `status`): queue an edit of each invoice message its
    buyer holds, which then says so and loses its pay and cancel buttons. Each message is edited once."""
    outbox = OutboxRepo(session)
    for chat_id, message_id in await OrderRepo(session).take_invoice_messages(order_id):
        await outbox.enqueue(INVOICE_CLOSED, chat_id, order_id, message_id=message_id, status=status.value)
