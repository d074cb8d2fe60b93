"""Channel and group access end to end, on both databases: the admin names the chat (refused unless the bot is
an administrator that may invite and ban), a paid order gets a one-use invite link from the Bot API double, a
renewal invoice goes out before the end, paying it extends access from the old end, and an unrenewed member
is banned and unbanned at the end and told. Every step happens once, also when the job runs twice at once or
the process stops between claiming a step and calling Telegram."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram.types import ChatMemberAdministrator, ChatMemberMember
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from handlers.admin.inventory import InvAction, InvCb, Node
from handlers.notices import NoticeRenderer
from l10n import Translator
from models.access import AccessChat, ChatAccess
from models.enums import AccessState, Chain, OrderStatus, ProductKind
from models.ops import AuditLog, OutboxMessage
from models.orders import Order, OrderItem
from models.types import utcnow
from processing.access import AccessKeeper
from processing.outbox import OutboxSender
from services.access import AccessKeeping
from services.admin.access import AdminAccessService, ChatRights
from services.delivery import OutboxDelivery
from services.payments.rates import rate_service_from_settings
from services.shop.privacy import PrivacyService
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import load_wallet
from tests.admin_flow import ADMIN, one, pay
from tests.doubles.telegram import FakeGroup, FakeUser, TelegramDouble
from tests.payflow import place_order
from tests.recording import BOT_USER, add_group
from tests.shop import seed_product
from tests.telegram import Telegram, texts

CHAT = -1001234567890
BUYER = FakeUser(id=7_000_001, first_name="Vera")
DAYS = 30


def bot_member(*, admin: bool = True, invite: bool = True, restrict: bool = True) -> Any:
    if not admin:
        return ChatMemberMember(user=BOT_USER)
    return ChatMemberAdministrator(
        user=BOT_USER,
        can_be_edited=False,
        is_anonymous=False,
        can_manage_chat=True,
        can_delete_messages=True,
        can_manage_video_chats=True,
        can_restrict_members=restrict,
        can_promote_members=False,
        can_change_info=True,
        can_invite_users=invite,
        can_post_stories=False,
        can_edit_stories=False,
        can_delete_stories=False,
    )


async def count(sessions: async_sessionmaker[AsyncSession], model: Any, *where: Any) -> int:
    return int(await one(sessions, select(func.count()).select_from(model).where(*where)))


async def test_admin_sets_the_chat_only_where_the_bot_may_invite_and_ban(
    tg: Telegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    product = await seed_product(sessions, name="VIP club", kind=ProductKind.channel, units=3)
    add_group(tg.session, -1001, "Just a member", "member_club", bot_member(admin=False))
    add_group(tg.session, -1002, "No invites", "no_invites", bot_member(invite=False))
    add_group(tg.session, CHAT, "VIP <club>", "vipclub", bot_member())
    prompt = texts(await tg.press(ADMIN, InvCb(action=InvAction.access, node=Node.product, id=product)))
    assert "@mychannel 30" in prompt[-1]

    refusals = {
        "@member_club 30": "is not an administrator of Just a member",
        "@no_invites 30": "may not: can_invite_users",
        "@nowhere 30": "cannot see @nowhere",
        "hello": "Send the chat",
        "@vipclub 0": "from 1 to 3650",
        f"{BUYER.id} 30": "cannot see",  # a private chat: no group the bot could manage
    }
    for line, why in refusals.items():
        answer = texts(await tg.send(ADMIN, line))
        assert why in answer[-1] and "Nothing was changed" in answer[-1], (line, answer)
    assert await count(sessions, AccessChat) == 0

    saved = texts(await tg.send(ADMIN, f"{CHAT} 30"))
    assert "VIP &lt;club&gt;" in saved[0] and "30 days" in saved[0]
    chat = await one(sessions, select(AccessChat))
    assert (chat.product_id, chat.chat_id, chat.title, chat.days) == (product, CHAT, "VIP <club>", 30)
    assert await count(sessions, AuditLog, AuditLog.action == "product.access_chat") == 1


@pytest.fixture
async def double() -> AsyncIterator[TelegramDouble]:
    async with TelegramDouble() as tg:
        tg.add_group(FakeGroup(CHAT, "VIP club", username="vipclub"))
        yield tg


class Shop:
    """A channel-access product for sale, the keeper job and the outbox, both talking to the HTTP double."""

    def __init__(
        self, settings: Settings, sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher, tg: TelegramDouble
    ) -> None:
        self.settings, self.sessions, self.tg = settings, sessions, tg
        self.bot = tg.make_bot()
        keeping = AccessKeeping(sessions, settings, load_wallet(settings), rate_service_from_settings(settings))
        self.keeping = keeping
        self.keeper = AccessKeeper(keeping, self.bot, settings.access_invite_hours)
        self.outbox = OutboxSender(
            OutboxDelivery(sessions, goods, settings), self.bot, NoticeRenderer(Translator(), "en")
        )

    async def product(self) -> int:
        product = await seed_product(self.sessions, name="VIP club 30 days", kind=ProductKind.channel, units=5)
        rights = ChatRights(CHAT, "channel", "VIP club", "administrator", True, True)
        async with self.sessions() as s:
            await AdminAccessService(s).set_chat("admin:1", product, rights, DAYS)
        return product

    async def buy(self, product: int) -> int:
        invoice = await place_order(self.settings, self.sessions, BUYER.id, product, 1, Chain.btc)
        await pay(self.sessions, self.settings, invoice.order_id)
        return invoice.order_id

    async def access(self) -> ChatAccess:
        return await one(self.sessions, select(ChatAccess))  # type: ignore[no-any-return]

    async def set_access(self, **values: Any) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(ChatAccess).values(**values))

    async def told(self, kind: str) -> list[str]:
        await self.outbox.send_due()
        return [m["text"] for m in self.tg.sent_to(BUYER.id) if kind in m.get("text", "")]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return self.tg.calls_of(method)


@pytest.fixture
async def shop(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher, double: TelegramDouble
) -> AsyncIterator[Shop]:
    shop = Shop(settings.model_copy(update={"access_renewal_days": 3}), sessions, goods, double)
    yield shop
    await shop.bot.session.close()


async def test_paid_access_invites_renews_extends_and_removes_each_once(shop: Shop) -> None:
    product = await shop.product()
    order_id = await shop.buy(product)
    access = await shop.access()
    paid_at = await one(shop.sessions, select(Order.paid_at).where(Order.id == order_id))
    assert access.state is AccessState.inviting and access.until == paid_at + timedelta(days=DAYS)
    assert "invite link" in (await shop.told("paid"))[0]  # the paid message announces the link, not a parcel

    # the invite: two runs at once make one link, limited to one member and expiring
    await asyncio.gather(shop.keeper.invite_due(), shop.keeper.invite_due())
    (link,) = shop.calls("createChatInviteLink")
    assert link["chat_id"] == CHAT and link["member_limit"] == 1
    assert utcnow().timestamp() < link["expire_date"] <= (utcnow() + timedelta(hours=24)).timestamp() + 1
    assert (await shop.access()).state is AccessState.active
    (message,) = await shop.told("Join with this link")
    url = shop.tg.invite_links[0].link["invite_link"]
    assert url in message and "VIP club" in message
    assert shop.tg.user_joins(BUYER, url) and not shop.tg.user_joins(FakeUser(id=7_000_002), url)
    access = await shop.access()
    async with shop.sessions() as session:  # /mydata lists the membership (its handler: tests/test_privacy.py)
        [membership] = (await PrivacyService(session, None).export(access.user_id))["memberships"]
    assert membership == {
        "chat": "VIP club",
        "state": "active",
        "until": access.until.isoformat(),
        "renewals": 0,
        "order_id": order_id,
        "invited_at": membership["invited_at"],
        "ended_at": None,
    }
    assert membership["invited_at"]

    # the renewal invoice: three days before the end, once, an order for the same product in the same coin
    old_end = utcnow() + timedelta(days=2)
    await shop.set_access(until=old_end)
    await asyncio.gather(shop.keeper.renew_due(), shop.keeper.renew_due())
    await shop.keeper.renew_due()
    access = await shop.access()
    renewal = await one(shop.sessions, select(Order).where(Order.id == access.renewal_order_id))
    assert renewal.status is OrderStatus.awaiting_payment and renewal.expires_at == old_end
    assert await one(shop.sessions, select(OrderItem.product_id).where(OrderItem.order_id == renewal.id)) == product
    assert await count(shop.sessions, Order) == 2
    assert len(await shop.told("pay this renewal")) == 1

    # paying it extends from the old end, not from the payment, and opens the next period's renewal
    await pay(shop.sessions, shop.settings, renewal.id)
    await pay(shop.sessions, shop.settings, renewal.id)  # the observer seeing it again changes nothing
    access = await shop.access()
    assert access.until == old_end + timedelta(days=DAYS) and access.renewals == 1
    assert access.renewal_sent_at is None and access.renewal_order_id is None
    assert access.state is AccessState.active and len(shop.calls("createChatInviteLink")) == 1  # no second link

    # this period's renewal goes unpaid: at the end the member is removed, once, and told
    await shop.keeper.renew_due()
    await shop.set_access(until=utcnow() + timedelta(days=2))
    await shop.keeper.renew_due()
    await shop.set_access(until=utcnow() - timedelta(seconds=1))
    await asyncio.gather(shop.keeper.remove_due(), shop.keeper.remove_due())
    await shop.keeper.run()
    (ban,) = shop.calls("banChatMember")
    (unban,) = shop.calls("unbanChatMember")
    assert (ban["chat_id"], ban["user_id"]) == (CHAT, BUYER.id)
    assert (unban["user_id"], unban["only_if_banned"]) == (BUYER.id, True)
    group = shop.tg.groups[CHAT]
    assert BUYER.id not in (group.members or set()) and BUYER.id not in (group.banned or set())  # may come back
    assert (await shop.access()).state is AccessState.ended
    assert len(await shop.told("has ended")) == 1


async def test_a_restart_between_claim_and_call_makes_each_call_once(shop: Shop) -> None:
    product = await shop.product()
    await shop.buy(product)
    access = await shop.access()
    # the process claims the invite and stops before calling Telegram
    assert await shop.keeping.claim_invite(access.id, utcnow()) is not None
    assert await shop.keeping.claim_invite(access.id, utcnow()) is None  # another run cannot take it meanwhile
    fresh = AccessKeeper(shop.keeping, shop.bot, 24)  # after the restart
    await fresh.run()
    assert shop.calls("createChatInviteLink") == []  # the claim still holds
    await shop.set_access(invite_claimed_until=utcnow() - timedelta(seconds=1))  # ... until it runs out
    await fresh.run()
    await fresh.run()
    assert len(shop.calls("createChatInviteLink")) == 1 and (await shop.access()).state is AccessState.active

    # the same for the removal, claimed and interrupted after the ban
    await shop.set_access(until=utcnow() - timedelta(seconds=1), renewal_sent_at=utcnow())
    assert await shop.keeping.claim_removal(access.id, utcnow()) is not None
    assert await shop.keeping.claim_removal(access.id, utcnow()) is None
    await shop.bot.ban_chat_member(CHAT, BUYER.id)  # ... and then the process stopped
    await fresh.run()
    assert len(shop.calls("banChatMember")) == 1 and (await shop.access()).state is AccessState.removing
    await shop.set_access(remove_claimed_until=utcnow() - timedelta(seconds=1))
    await fresh.run()
    await fresh.run()
    assert len(shop.calls("banChatMember")) == 2 and len(shop.calls("unbanChatMember")) == 1
    assert (await shop.access()).state is AccessState.ended
    assert await count(shop.sessions, OutboxMessage, OutboxMessage.kind == "access_ended") == 1
    assert await count(shop.sessions, OutboxMessage, OutboxMessage.kind == "access_invite") == 1


async def test_lost_rights_alert_the_admins_once_and_change_nothing(shop: Shop) -> None:
    product = await shop.product()
    await shop.buy(product)
    shop.tg.groups[CHAT].can_invite_users = False  # the channel's owner took the right away
    await shop.keeper.run()
    await shop.set_access(invite_claimed_until=utcnow() - timedelta(seconds=1))
    await shop.keeper.run()
    assert len(shop.calls("createChatInviteLink")) == 2
    assert (await shop.access()).state is AccessState.inviting
    alerts = await count(shop.sessions, OutboxMessage, OutboxMessage.kind == "admin.access_refused")
    assert alerts == 1 and "not enough rights" in ((await shop.access()).last_error or "")
