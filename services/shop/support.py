"""Support: a buyer's message goes to every admin, and an admin's reply to that copy goes back.

Which copy belongs to which buyer is kept in the audit log ("support.message", one row per copy,
entity_id = the copy's message id in the admin's chat), so replies keep working after a restart and
across processes, and nothing the buyer writes is ever parsed for routing.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.ops import AuditLog
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.users import UserRepo
from services.dto import UserDTO

COPY = "support_copy"


@dataclass(frozen=True, slots=True)
class SupportRequest:
    """Who is asking, as the admins see it above the copy."""

    buyer_telegram_id: int
    username: str | None
    latest_order_id: int | None


@dataclass(frozen=True, slots=True)
class Recipient:
    telegram_id: int
    language: str


@dataclass(frozen=True, slots=True)
class SupportThread:
    """The buyer an admin is answering."""

    buyer_telegram_id: int
    buyer_language: str


# Sends one copy to one admin and returns its message id, or None when it could not be delivered.
Relay = Callable[[Recipient, SupportRequest], Awaitable[int | None]]


class SupportService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def forward(self, user: UserDTO, relay: Relay) -> int:
        """Hand the buyer's message to `relay` once per admin (no transaction open while it sends) and
        remember each copy for the replies. Returns how many admins got it; 0 means nobody will answer."""
        async with self._session.begin():
            latest, _ = await OrderRepo(self._session).of_user(user.id, 0, 1)
            languages = await UserRepo(self._session).languages(self._settings.admin_ids)
        request = SupportRequest(user.telegram_id, user.username, latest[0].id if latest else None)
        copies: list[tuple[int, int]] = []
        for admin in sorted(self._settings.admin_ids):
            message_id = await relay(Recipient(admin, languages.get(admin, self._settings.default_language)), request)
            if message_id is not None:
                copies.append((admin, message_id))
        async with self._session.begin():
            audit = AuditRepo(self._session)
            for admin, message_id in copies:
                await audit.record(
                    f"buyer:{user.telegram_id}",
                    "support.message",
                    COPY,
                    message_id,
                    after={"admin": admin, "buyer": user.telegram_id, "order_id": request.latest_order_id},
                )
        return len(copies)

    async def thread(self, admin_telegram_id: int, message_id: int) -> SupportThread | None:
        """The buyer behind the copy `message_id` in this admin's chat; None if it is no support copy."""
        async with read_only(self._session):
            rows = (
                await self._session.execute(
                    select(AuditLog.after).where(
                        AuditLog.entity == COPY, AuditLog.entity_id == message_id, AuditLog.action == "support.message"
                    )
                )
            ).scalars()
            buyer = next(
                (int(after["buyer"]) for after in rows if after and after.get("admin") == admin_telegram_id), None
            )
            if buyer is None:
                return None
            user = await UserRepo(self._session).by_telegram_id(buyer)
        language = user.language if user else self._settings.default_language
        return SupportThread(buyer, language)

    async def answer(
        self, admin_telegram_id: int, thread: SupportThread, deliver: Callable[[SupportThread], Awaitable[bool]]
    ) -> bool:
        """Send an admin's answer through `deliver` and audit that it was given (not its text: support
        conversations stay in Telegram). Returns whether the buyer got it."""
        delivered = await deliver(thread)
        async with self._session.begin():
            await AuditRepo(self._session).record(
                f"admin:{admin_telegram_id}",
                "support.reply",
                "telegram_user",
                thread.buyer_telegram_id,
                after={"delivered": delivered},
            )
        return delivered
