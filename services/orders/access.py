"""What a paid order grants of channel or group access, inside the transaction that paid it. The steps that
follow (invite link, renewal invoice, removal) are services.access."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.access import ChatAccess
from models.enums import ProductKind
from models.orders import Order, OrderItem
from models.shop import Product
from repositories.access import AccessRepo
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from repositories.orders import OrderRepo
from services.outbox import notify_admins

ACTOR = "access"  # the audit log's actor for the steps the scheduler takes


def day(at: datetime) -> str:
    """A moment as buyers read it in messages: UTC, to the minute."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


async def grants_access(session: AsyncSession, order_id: int) -> bool:
    """True when the order sells channel or group access (its paid message then announces the invite link)."""
    stmt = select(
        exists().where(
            OrderItem.order_id == order_id, OrderItem.product_id == Product.id, Product.kind == ProductKind.channel
        )
    )
    return bool((await session.execute(stmt)).scalar())


async def grant_access(session: AsyncSession, settings: Settings, order: Order, now: datetime) -> None:
    """What a paid order grants, inside the transaction that paid it (services.orders.lifecycle pay and fulfil,
    which run once per order): for each access product in it, `days` × quantity of membership. A buyer who
    still holds that chat has their end moved on from the old end, not from now, and its next renewal opened;
    anyone else gets a new access row, which the invite job turns into a one-use link. An access product
    whose chat was never set alerts the admins."""
    repo = AccessRepo(session)
    items = await OrderRepo(session).items(order.id)
    chats = await repo.chats_of([i.product_id for i in items if i.product_id is not None])
    for item in items:
        product = await CatalogRepo(session).product(item.product_id) if item.product_id is not None else None
        if product is None or product.kind is not ProductKind.channel:
            continue
        chat = chats.get(product.id)
        if chat is None:
            await notify_admins(
                session, settings.admin_ids, "admin.access_no_chat", order.id, product=item.product_name
            )
            continue
        length = timedelta(days=chat.days * item.quantity)
        held = await repo.held(order.user_id, chat.chat_id)
        if held is not None and await repo.extend(held, held.until + length):
            after = {"until": (held.until + length).isoformat(), "order_id": order.id}
            await audit_access(session, "extend", held.id, after, before={"until": held.until.isoformat()})
            continue
        access = await repo.add(
            ChatAccess(
                user_id=order.user_id,
                product_id=product.id,
                chat_id=chat.chat_id,
                chat_title=chat.title,
                order_id=order.id,
                until=now + length,
                created_at=now,
            )
        )
        after = {"state": access.state.value, "until": access.until.isoformat(), "order_id": order.id}
        await audit_access(session, "grant", access.id, after)


async def audit_access(
    session: AsyncSession, step: str, access_id: int, after: dict[str, Any], before: dict[str, Any] | None = None
) -> None:
    await AuditRepo(session).record(ACTOR, f"access.{step}", "chat_access", access_id, before=before, after=after)
