"""Channel access: the chat each access product opens, and buyers' access rows with the conditional updates
that move them one step each. Flushes, never commits."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.access import AccessChat, ChatAccess
from models.enums import AccessState, OrderStatus
from models.orders import Order

# A membership that is still the buyer's: a further payment extends it rather than inviting them again.
HELD = (AccessState.inviting, AccessState.active)


def _unclaimed(column: Any, now: datetime) -> ColumnElement[bool]:
    return or_(column.is_(None), column < now)


class AccessRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def chat_of(self, product_id: int) -> AccessChat | None:
        return await self._s.get(AccessChat, product_id, populate_existing=True)

    async def chats_of(self, product_ids: Sequence[int]) -> dict[int, AccessChat]:
        rows = await self._s.execute(select(AccessChat).where(AccessChat.product_id.in_(product_ids)))
        return {c.product_id: c for c in rows.scalars()}

    async def set_chat(self, product_id: int, chat_id: int, title: str, days: int, now: datetime) -> None:
        chat = await self.chat_of(product_id)
        if chat is None:
            self._s.add(AccessChat(product_id=product_id, chat_id=chat_id, title=title, days=days, set_at=now))
        else:
            chat.chat_id, chat.title, chat.days, chat.set_at = chat_id, title, days, now
        await self._s.flush()

    async def get(self, access_id: int) -> ChatAccess | None:
        return await self._s.get(ChatAccess, access_id, populate_existing=True)

    async def held(self, user_id: int, chat_id: int) -> ChatAccess | None:
        """The buyer's membership of the chat that is still theirs (being invited, or active), if any."""
        result = await self._s.execute(
            select(ChatAccess).where(
                ChatAccess.user_id == user_id, ChatAccess.chat_id == chat_id, ChatAccess.state.in_(HELD)
            )
        )
        return result.scalars().first()

    async def add(self, access: ChatAccess) -> ChatAccess:
        self._s.add(access)
        await self._s.flush()
        return access

    async def extend(self, access: ChatAccess, until: datetime) -> bool:
        """Move the end from what was read to `until` and open the next period's renewal; False when the row
        moved meanwhile (removal began, or another payment extended it)."""
        return await self._update(
            and_(ChatAccess.id == access.id, ChatAccess.until == access.until, ChatAccess.state.in_(HELD)),
            until=until,
            renewals=ChatAccess.renewals + 1,
            renewal_sent_at=None,
            renewal_order_id=None,
        )

    # -- the invite ------------------------------------------------------------------------------

    async def to_invite(self, now: datetime, limit: int) -> list[int]:
        stmt = select(ChatAccess.id).where(
            ChatAccess.state == AccessState.inviting, _unclaimed(ChatAccess.invite_claimed_until, now)
        )
        return list((await self._s.execute(stmt.order_by(ChatAccess.id).limit(limit))).scalars())

    async def claim_invite(self, access_id: int, now: datetime, until: datetime) -> bool:
        return await self._update(
            and_(
                ChatAccess.id == access_id,
                ChatAccess.state == AccessState.inviting,
                _unclaimed(ChatAccess.invite_claimed_until, now),
            ),
            invite_claimed_until=until,
        )

    async def invited(self, access_id: int, now: datetime) -> bool:
        return await self._update(
            and_(ChatAccess.id == access_id, ChatAccess.state == AccessState.inviting),
            state=AccessState.active,
            invited_at=now,
            last_error=None,
        )

    # -- the renewal invoice ---------------------------------------------------------------------

    async def to_renew(self, now: datetime, before_end: datetime, limit: int) -> list[int]:
        """Active memberships ending by `before_end` (and not yet) whose period has had no renewal invoice."""
        stmt = select(ChatAccess.id).where(
            ChatAccess.state == AccessState.active,
            ChatAccess.renewal_sent_at.is_(None),
            ChatAccess.until <= before_end,
            ChatAccess.until > now,
        )
        return list((await self._s.execute(stmt.order_by(ChatAccess.until).limit(limit))).scalars())

    async def take_renewal(self, access_id: int, now: datetime) -> bool:
        """This period's one renewal invoice: True for the caller that may place it."""
        return await self._update(
            and_(
                ChatAccess.id == access_id,
                ChatAccess.state == AccessState.active,
                ChatAccess.renewal_sent_at.is_(None),
            ),
            renewal_sent_at=now,
        )

    async def set_renewal_order(self, access_id: int, order_id: int) -> None:
        await self._update(ChatAccess.id == access_id, renewal_order_id=order_id)

    # -- the removal -----------------------------------------------------------------------------

    async def to_remove(self, now: datetime, limit: int) -> list[int]:
        """Memberships past their end, unless the renewal's money is on its way (confirming): they wait for it."""
        confirming = exists().where(Order.id == ChatAccess.renewal_order_id, Order.status == OrderStatus.confirming)
        stmt = select(ChatAccess.id).where(
            ChatAccess.state.in_((AccessState.active, AccessState.removing)),
            ChatAccess.until <= now,
            _unclaimed(ChatAccess.remove_claimed_until, now),
            ~confirming,
        )
        return list((await self._s.execute(stmt.order_by(ChatAccess.until).limit(limit))).scalars())

    async def claim_removal(self, access_id: int, now: datetime, until: datetime) -> bool:
        """active → removing (or a removal whose claim ran out, after a crash, claimed again)."""
        return await self._update(
            and_(
                ChatAccess.id == access_id,
                ChatAccess.state.in_((AccessState.active, AccessState.removing)),
                ChatAccess.until <= now,
                _unclaimed(ChatAccess.remove_claimed_until, now),
            ),
            state=AccessState.removing,
            remove_claimed_until=until,
        )

    async def ended(self, access_id: int, now: datetime, error: str | None) -> bool:
        return await self._update(
            and_(ChatAccess.id == access_id, ChatAccess.state == AccessState.removing),
            state=AccessState.ended,
            ended_at=now,
            last_error=error,
        )

    async def refused(self, access_id: int, error: str, retry_at: datetime) -> None:
        """Telegram refused the step in hand (invite or removal): note why, and leave it until `retry_at`."""
        await self._update(
            ChatAccess.id == access_id, last_error=error, invite_claimed_until=retry_at, remove_claimed_until=retry_at
        )

    async def of_user(self, user_id: int) -> list[ChatAccess]:
        stmt = select(ChatAccess).where(ChatAccess.user_id == user_id).order_by(ChatAccess.id)
        return list((await self._s.execute(stmt)).scalars())

    async def _update(self, where: ColumnElement[bool], **values: Any) -> bool:
        result = await self._s.execute(update(ChatAccess).where(where).values(**values))
        return getattr(result, "rowcount", 0) == 1
