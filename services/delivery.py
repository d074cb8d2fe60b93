"""The outbox, sending side in the database: which messages are due, claiming one and loading what its
rendering needs, and recording how the send went.

processing.outbox sends, handlers.notices renders. A crash between sending and marking may send a message
twice; it never credits or delivers twice, because the state change that queued it committed exactly once.
Goods are decrypted only here.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from models.chains import Asset
from models.database import read_only
from models.enums import OutboxStatus
from repositories.broadcast import KIND as BROADCAST
from repositories.orders import OrderRepo
from repositories.outbox import OutboxRepo
from repositories.users import UserRepo
from services.dto import GoodsFile
from services.orders.goods import open_goods, sealed_goods
from services.orders.lifecycle import OrderLifecycle
from services.outbox import INVOICE_CLOSED, notify_admins
from services.wallet.goods import GoodsCipher

CLAIM_SECONDS = 60  # a claimed message no other process sends for this long
DELIVERY = "paid"  # the buyer's "paid" message carries the goods


@dataclass(frozen=True, slots=True)
class Notice:
    """One claimed outbox message and everything its rendering needs."""

    id: int
    kind: str  # the l10n key is f"notify.{kind}"; "admin." kinds go to admins
    chat_id: int
    order_id: int | None
    params: dict[str, Any]  # as queued
    attempts: int  # this one included
    language: str | None  # the recipient's, None when the chat is no user of the shop
    unit: Asset | None = None  # what the order's invoice is paid in, when it has one
    address: str | None = None
    goods: list[str] = field(default_factory=list, repr=False)  # decrypted payloads of a delivery; never log
    files: list[GoodsFile] = field(default_factory=list, repr=False)  # a delivery's documents; never log

    @property
    def to_buyer(self) -> bool:
        """A message about a buyer's order, or to them: not an admin alert, not a broadcast."""
        return not self.kind.startswith("admin.") and self.kind != BROADCAST

    @property
    def edits(self) -> int | None:
        """The message this notice rewrites in place (an invoice the buyer holds); None: a new message."""
        return int(self.params["message_id"]) if self.kind == INVOICE_CLOSED else None

    @property
    def delivers(self) -> int | None:
        """The order whose goods this message delivers; None for every other message."""
        return self.order_id if self.kind == DELIVERY else None


class OutboxDelivery:
    """Each method is one transaction of its own: the sender talks to Telegram between them, never
    inside one. Safe to use from several processes at once (claims are conditional updates)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher | None, settings: Settings
    ) -> None:
        self._sessions = sessions
        self._goods = goods
        self._settings = settings

    async def due(self, now: datetime, limit: int) -> list[int]:
        """Ids of up to `limit` messages due at `now`, order and admin messages before broadcast rows.
        Read-only."""
        async with self._sessions() as s, read_only(s):
            return [m.id for m in await OutboxRepo(s).due(now, limit)]

    async def claim(self, message_id: int, now: datetime) -> Notice | None:
        """Take a due message for CLAIM_SECONDS and count the attempt, so no other process sends it
        meanwhile; None, changing nothing, when it is no longer due (sent, or another process has it).
        The claim commits before anything else can fail (goods, rendering): a message that cannot be sent
        still uses up an attempt and so cannot stay first in line for ever. A delivery's goods are not
        loaded yet: see with_goods."""
        async with self._sessions.begin() as s:
            outbox = OutboxRepo(s)
            if not await outbox.claim(message_id, now, now + timedelta(seconds=CLAIM_SECONDS)):
                return None
            message = await outbox.get(message_id)
            user = await UserRepo(s).by_telegram_id(message.chat_id)
            invoice = await OrderRepo(s).invoice(message.order_id) if message.order_id is not None else None
            claimed = Notice(
                id=message.id,
                kind=message.kind,
                chat_id=message.chat_id,
                order_id=message.order_id,
                params=dict(message.params),
                attempts=message.attempts,
                language=user.language if user else None,
                unit=invoice.unit if invoice else None,
                address=invoice.address if invoice else None,
            )
        return claimed

    async def with_goods(self, notice: Notice) -> Notice:
        """A delivery with its goods decrypted (raises services.wallet.secretbox.DecryptionError under the
        wrong GOODS_KEY); any other message as it is. Without a goods key a delivery carries no goods and
        reads "will be shipped". Read-only."""
        if notice.delivers is None or self._goods is None:
            return notice
        async with self._sessions() as s, read_only(s):
            sealed = await sealed_goods(s, notice.delivers)
        goods = open_goods(self._goods, sealed)
        return replace(notice, goods=goods.texts, files=goods.files)

    async def sent(self, notice: Notice, at: datetime) -> None:
        """Mark the message sent; a delivery also stamps its order delivered (the first time only)."""
        async with self._sessions.begin() as s:
            await OutboxRepo(s).finish(notice.id, OutboxStatus.sent, at)
            if notice.delivers is not None:
                await OrderRepo(s).mark_delivered(notice.delivers, at)

    async def retry(self, notice: Notice, at: datetime, error: str) -> None:
        """Leave the message pending until `at`, noting why it was not sent."""
        async with self._sessions.begin() as s:
            await OutboxRepo(s).retry_at(notice.id, at, error)

    async def give_up(self, notice: Notice, now: datetime, error: str, *, recipient_blocked: bool = False) -> None:
        """Mark the message failed for good, and the recipient as having blocked the bot when they have
        (broadcasts skip them then). A failed delivery puts its order in the problem queue as
        delivery_failed and alerts the admins, once however often it fails; any other message to a buyer
        that fails for good (not because they blocked the bot) alerts the admins once too. A failed admin
        message alerts nobody: that could fail the same way, for ever."""
        async with self._sessions.begin() as s:
            await OutboxRepo(s).finish(notice.id, OutboxStatus.failed, now, error)
            if recipient_blocked:
                await UserRepo(s).set_blocked_bot(notice.chat_id, True)
            order = await OrderRepo(s).get(notice.delivers) if notice.delivers is not None else None
            if order is not None:
                await OrderLifecycle(s, self._settings).flag_undelivered(order, error)
            elif not recipient_blocked and notice.to_buyer:
                alert = {"what": notice.kind, "chat": notice.chat_id, "error": error}
                await notify_admins(s, self._settings.admin_ids, "admin.notice_failed", notice.order_id, **alert)
