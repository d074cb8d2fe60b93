"""Admin: the chat a channel-access product opens and how many days each unit gives.

The handler asks Telegram what the bot may do in the chat (getChat, getChatMember for the bot's own id) and
passes the answer here; the rule of what is enough lives here, once: the bot must be an administrator that
may invite users (the links) and restrict members (the removal). Anything less is refused and changes nothing.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import ProductKind
from models.types import utcnow
from repositories.access import AccessRepo
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from services.shop.catalog import NotFound

MAX_DAYS = 3650
CHAT_LINE = re.compile(r"^\s*(@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})\s+(\d{1,5})\s*$")
GROUPS = ("channel", "supergroup", "group")


class AccessRefused(Exception):
    """The chat cannot be used; `key` is the l10n string that says why (with `params`)."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class ChatRights:
    """What Telegram says about a chat and the bot in it (getChat, then getChatMember for the bot's id)."""

    chat_id: int
    chat_type: str  # "channel", "supergroup", "group", "private"
    title: str
    status: str  # the bot's: "administrator", "member", "left", "kicked", …
    can_invite_users: bool = False
    can_restrict_members: bool = False


@dataclass(frozen=True, slots=True)
class AccessChatView:
    chat_id: int
    title: str
    days: int
    set_at: datetime


def parse_chat_line(text: str) -> tuple[str | int, int]:
    """ "@mychannel 30" or "-1001234567890 30": the chat (a username or numeric id) and the days. Raises
    AccessRefused."""
    match = CHAT_LINE.match(text or "")
    if match is None:
        raise AccessRefused("admin.access.bad_line")
    chat, days = match.group(1), int(match.group(2))
    if not 1 <= days <= MAX_DAYS:
        raise AccessRefused("admin.access.bad_days", max=str(MAX_DAYS))
    return (chat if chat.startswith("@") else int(chat)), days


def missing_rights(rights: ChatRights) -> list[str]:
    """What keeps the bot from selling access to this chat: the names of the missing rights (empty: none)."""
    if rights.chat_type not in GROUPS:
        return ["group"]
    if rights.status != "administrator":
        return ["admin"]
    return [
        name
        for name, has in (
            ("can_invite_users", rights.can_invite_users),
            ("can_restrict_members", rights.can_restrict_members),
        )
        if not has
    ]


class AdminAccessService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def chat_of(self, product_id: int) -> AccessChatView | None:
        """The chat the product opens (None: not set yet). Raises NotFound for a product that is gone or sells
        no access."""
        async with read_only(self._session):
            await self._product(product_id)
            chat = await AccessRepo(self._session).chat_of(product_id)
        return AccessChatView(chat.chat_id, chat.title, chat.days, chat.set_at) if chat else None

    async def set_chat(self, actor: str, product_id: int, rights: ChatRights, days: int) -> AccessChatView:
        """From now on the product opens this chat for `days` per unit (memberships already sold keep their
        chat). Raises AccessRefused, changing nothing, unless the bot is an administrator of the group or
        channel that may invite users and restrict members; NotFound as chat_of. One transaction, audited."""
        if missing := missing_rights(rights):
            raise AccessRefused(
                f"admin.access.refused_{missing[0] if missing[0] in ('group', 'admin') else 'rights'}",
                rights=", ".join(missing),
                chat=rights.title,
            )
        now = utcnow()
        async with self._session.begin():
            await self._product(product_id)
            repo = AccessRepo(self._session)
            old = await repo.chat_of(product_id)
            before = {"chat_id": old.chat_id, "days": old.days} if old else None
            await repo.set_chat(product_id, rights.chat_id, rights.title[:255], days, now)
            after = {"chat_id": rights.chat_id, "title": rights.title[:255], "days": days}
            await AuditRepo(self._session).record(
                actor, "product.access_chat", "product", product_id, before=before, after=after
            )
        return AccessChatView(rights.chat_id, rights.title[:255], days, now)

    async def _product(self, product_id: int) -> None:
        product = await CatalogRepo(self._session).product(product_id)
        if product is None or product.kind is not ProductKind.channel:
            raise NotFound
