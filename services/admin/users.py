"""Finding buyers, banning and unbanning them, forgiving their expired orders, and listing their orders."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import OrderStatus
from models.shop import User
from repositories.audit import AuditRepo
from repositories.credit import CreditRepo
from repositories.orders import OrderRepo
from repositories.users import UserRepo
from services.money import from_minor
from services.shop.catalog import NotFound
from services.shop.users import KnownUsers

PAGE_SIZE = 10


@dataclass(frozen=True, slots=True)
class UserCard:
    id: int
    telegram_id: int
    username: str | None
    language: str
    timeout_count: int
    is_banned: bool
    blocked_bot: bool
    created_at: datetime
    orders: int
    is_reseller: bool = False  # pays products' reseller prices
    credit: Decimal = Decimal(0)  # their store credit


@dataclass(frozen=True, slots=True)
class UserOrder:
    id: int
    created_at: datetime
    status: OrderStatus
    total: Decimal
    currency: str


class AdminUsersService:
    def __init__(self, session: AsyncSession, known: KnownUsers | None = None) -> None:
        """`known`: the bot's memory of recent users, which forgets a user once a change to them is committed."""
        self._session = session
        self._known = known or KnownUsers(seconds=0)

    async def find(self, query: str) -> UserCard:
        """By Telegram id (digits) or username (with or without @). Raises NotFound. Read-only."""
        query = query.strip()
        async with read_only(self._session):
            repo = UserRepo(self._session)
            user = (
                await repo.by_telegram_id(int(query))
                if query.isdigit() and len(query) < 19
                else await repo.by_username(query.removeprefix("@"))
                if query.removeprefix("@")
                else None
            )
            if user is None:
                raise NotFound
            return await self._card(repo, user)

    async def card(self, user_id: int) -> UserCard:
        """Raises NotFound. Read-only."""
        async with read_only(self._session):
            repo = UserRepo(self._session)
            user = await repo.get(user_id)
            if user is None:
                raise NotFound
            return await self._card(repo, user)

    async def with_timeouts(self, at_least: int, page: int) -> tuple[list[UserCard], bool]:
        """Users with at least `at_least` orders that expired unpaid, most first; one page. Read-only."""
        async with read_only(self._session):
            repo = UserRepo(self._session)
            users, more = await repo.with_timeouts(max(at_least, 1), page, PAGE_SIZE)
            return [await self._card(repo, u) for u in users], more

    async def orders(self, user_id: int, page: int) -> tuple[list[UserOrder], bool]:
        """The user's orders, newest first; one page. Raises NotFound for a missing user. Read-only."""
        async with read_only(self._session):
            if await UserRepo(self._session).get(user_id) is None:
                raise NotFound
            rows, more = await OrderRepo(self._session).of_user(user_id, page, PAGE_SIZE)
        return [UserOrder(o.id, o.created_at, o.status, from_minor(o.total_minor), o.fiat_currency) for o in rows], more

    async def set_banned(self, actor: str, user_id: int, banned: bool) -> UserCard:
        """Ban (no more checkouts) or unban. Audited when it changes something; idempotent. Raises NotFound."""
        return await self._change(actor, user_id, "user.ban" if banned else "user.unban", is_banned=banned)

    async def reset_timeouts(self, actor: str, user_id: int) -> UserCard:
        """Forget the user's expired unpaid orders, so checkout is open again. Audited; idempotent. Raises NotFound."""
        return await self._change(actor, user_id, "user.reset_timeouts", timeout_count=0)

    async def set_reseller(self, actor: str, user_id: int, reseller: bool) -> UserCard:
        """Put the user in the reseller group (they pay products' reseller prices) or take them out. Audited
        when it changes something; idempotent. Raises NotFound."""
        return await self._change(actor, user_id, "user.reseller", is_reseller=reseller)

    async def _change(self, actor: str, user_id: int, action: str, **values: Any) -> UserCard:
        async with self._session.begin():
            repo = UserRepo(self._session)
            user = await repo.get(user_id, lock=True)
            if user is None:
                raise NotFound
            before = {key: getattr(user, key) for key in values}
            if before != values:
                await repo.set_values(user_id, **values)
                await AuditRepo(self._session).record(actor, action, "user", user_id, before=before, after=values)
                user = await repo.get(user_id)
                assert user is not None
            card = await self._card(repo, user)
        self._known.forget(user_id)  # after the commit: the user's next update sees the change
        return card

    async def _card(self, repo: UserRepo, user: User) -> UserCard:
        return UserCard(
            user.id,
            user.telegram_id,
            user.username,
            user.language,
            user.timeout_count,
            user.is_banned,
            user.blocked_bot,
            user.created_at,
            await repo.order_count(user.id),
            user.is_reseller,
            from_minor(await CreditRepo(self._session).balance(user.id)),
        )
