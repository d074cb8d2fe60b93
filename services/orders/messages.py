"""Messages about one order between the shop and its buyer: an admin writes (text or a photo), the buyer
answers, and every admin gets the answer, with buttons back to the order and to answer again.

The messages themselves go straight through Telegram (the handlers send them); what is kept is one audit
row per message on the order's timeline: who wrote, which way, whether it arrived. Never their text: like
support, the conversation stays in Telegram, and a buyer may well write down an address, which is erased
from the order after ADDRESS_RETENTION_DAYS but never from the audit log.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.users import UserRepo
from services.orders.lifecycle import admin, buyer
from services.shop.catalog import NotFound


@dataclass(frozen=True, slots=True)
class Correspondent:
    """Someone a message goes to."""

    telegram_id: int
    language: str


@dataclass(frozen=True, slots=True)
class OrderThread:
    """An order's buyer, as the admins see them above a message."""

    order_id: int
    buyer: Correspondent
    username: str | None


# Sends the message to one person; returns whether Telegram took it.
Deliver = Callable[[Correspondent], Awaitable[bool]]


class OrderMessageService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def thread(self, order_id: int) -> OrderThread:
        """The order's buyer, for an admin. Raises NotFound."""
        async with read_only(self._session):
            order = await OrderRepo(self._session).get(order_id)
            user = await UserRepo(self._session).get(order.user_id) if order else None
        if user is None:
            raise NotFound
        return OrderThread(order_id, Correspondent(user.telegram_id, user.language), user.username)

    async def check_buyer(self, order_id: int, user_id: int) -> None:
        """Raises NotFound unless the order is this buyer's (others' look exactly like missing ones)."""
        async with read_only(self._session):
            if await OrderRepo(self._session).owned(order_id, user_id) is None:
                raise NotFound

    async def to_buyer(self, order_id: int, admin_telegram_id: int, deliver: Deliver, *, photo: bool) -> bool:
        """Send an admin's message to the order's buyer through `deliver` (no transaction open meanwhile) and
        put it on the order's timeline. Returns whether it arrived. Raises NotFound."""
        thread = await self.thread(order_id)
        delivered = await deliver(thread.buyer)
        async with self._session.begin():
            await AuditRepo(self._session).record(
                str(admin(admin_telegram_id)),
                "order.message_to_buyer" if delivered else "order.message_undelivered",
                "order",
                order_id,
                after={"delivered": delivered, "photo": photo},
            )
        return delivered

    async def from_buyer(self, order_id: int, user_id: int, deliver: Deliver, *, photo: bool) -> int:
        """Send the buyer's message about their order to every admin through `deliver` and put it on the
        order's timeline. Returns how many admins got it (0: nobody will read it). Raises NotFound (not
        their order, or missing)."""
        await self.check_buyer(order_id, user_id)
        async with read_only(self._session):
            users = UserRepo(self._session)
            telegram_id, languages = await users.telegram_id(user_id), await users.languages(self._settings.admin_ids)
        reached = 0
        for admin_id in sorted(self._settings.admin_ids):
            language = languages.get(admin_id, self._settings.default_language)
            reached += await deliver(Correspondent(admin_id, language))
        async with self._session.begin():
            await AuditRepo(self._session).record(
                str(buyer(telegram_id)),
                "order.message_from_buyer",
                "order",
                order_id,
                after={"admins": reached, "photo": photo},
            )
        return reached
