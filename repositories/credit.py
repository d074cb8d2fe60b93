"""Store credit: the ledger's entries and each buyer's balance. Entries are only inserted, by `append`; the
balance row moves only with them. Flushes, never commits."""

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.credit import CreditBalance, CreditEntry
from models.enums import CreditKind
from models.shop import User
from repositories.base import insert_ignoring_conflict, page_of


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append: what it is, for whom, and the key that makes it happen once."""

    key: str
    user_id: int
    kind: CreditKind
    amount_minor: int  # signed
    actor: str
    order_id: int | None = None
    reason: str | None = None


@functools.cache
def _balance() -> Select[tuple[int]]:
    """A buyer's balance, with the parameter `user_id`; built once (repositories.base): checkout's screen reads it."""
    return select(CreditBalance.balance_minor).where(CreditBalance.user_id == bindparam("user_id"))


def balance_column() -> ScalarSelect[int]:
    """`_balance` as a column of another read, with the parameter `user_id` (NULL without a balance row)."""
    return _balance().scalar_subquery()


class CreditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def balance(self, user_id: int, *, lock: bool = False) -> int:
        """The buyer's credit in minor units (0 without a balance row). With `lock`, the row is created if
        missing and locked for the rest of the transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE already runs
        the transaction alone among writers)."""
        if not lock:
            return int((await self._s.execute(_balance(), {"user_id": user_id})).scalar_one_or_none() or 0)
        await insert_ignoring_conflict(
            self._s,
            CreditBalance.__table__,  # type: ignore[arg-type]
            {"user_id": user_id, "balance_minor": 0},
            ["user_id"],
        )
        stmt = select(CreditBalance.balance_minor).where(CreditBalance.user_id == user_id).with_for_update()
        return int((await self._s.execute(stmt)).scalar_one())

    async def by_key(self, key: str) -> CreditEntry | None:
        return (await self._s.execute(select(CreditEntry).where(CreditEntry.key == key))).scalar_one_or_none()

    async def append(self, entry: NewEntry, now: datetime) -> tuple[CreditEntry, bool]:
        """The entry with `entry.key`: appended now, and (entry, True); or, when that key was appended before,
        (that entry, False) and nothing changes. Appending is one conditional UPDATE of the buyer's balance
        (balance + amount >= 0), so no entry ever takes a balance below zero, however many race. Raises
        InsufficientCredit (nothing written) when this one would."""
        await self.balance(entry.user_id, lock=True)  # waits for a racing append of the same buyer to commit
        if (done := await self.by_key(entry.key)) is not None:
            return done, False
        moved = await self._s.execute(
            update(CreditBalance)
            .where(
                CreditBalance.user_id == entry.user_id,
                CreditBalance.balance_minor + entry.amount_minor >= 0,
            )
            .values(balance_minor=CreditBalance.balance_minor + entry.amount_minor, updated_at=now)
            .returning(CreditBalance.balance_minor)
        )
        after = moved.scalar_one_or_none()
        if after is None:
            raise InsufficientCredit(entry.user_id, -entry.amount_minor)
        row = CreditEntry(
            key=entry.key,
            user_id=entry.user_id,
            kind=entry.kind,
            amount_minor=entry.amount_minor,
            balance_before_minor=after - entry.amount_minor,
            balance_after_minor=after,
            order_id=entry.order_id,
            reason=entry.reason,
            actor=entry.actor,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return row, True

    async def spent_on(self, order_id: int) -> CreditEntry | None:
        """The order's spend entry, if credit paid part of it."""
        stmt = select(CreditEntry).where(CreditEntry.order_id == order_id, CreditEntry.kind == CreditKind.spend)
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def history(self, user_id: int, page: int, size: int | None) -> tuple[list[CreditEntry], bool]:
        """The buyer's entries, newest first; one page (size None: all)."""
        stmt = select(CreditEntry).where(CreditEntry.user_id == user_id).order_by(CreditEntry.id.desc())
        if size is None:
            return list((await self._s.execute(stmt)).scalars()), False
        return await page_of(self._s, stmt, page, size)

    async def unused_since(self, cutoff: datetime, limit: int) -> list[int]:
        """Buyers with credit whose last entry is older than `cutoff`: what expires."""
        last = (
            select(CreditEntry.user_id, func.max(CreditEntry.created_at).label("last"))
            .group_by(CreditEntry.user_id)
            .subquery()
        )
        stmt = (
            select(CreditBalance.user_id)
            .join(last, last.c.user_id == CreditBalance.user_id)
            .where(CreditBalance.balance_minor > 0, last.c.last < cutoff)
            .order_by(CreditBalance.user_id)
            .limit(limit)
        )
        return list((await self._s.execute(stmt)).scalars())

    async def last_entry(self, user_id: int) -> CreditEntry | None:
        stmt = select(CreditEntry).where(CreditEntry.user_id == user_id).order_by(CreditEntry.id.desc()).limit(1)
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def all_entries(self) -> list[CreditEntry]:
        """Every entry, by buyer and in order: what the ledger check and the CSV read."""
        stmt = select(CreditEntry).order_by(CreditEntry.user_id, CreditEntry.id)
        return list((await self._s.execute(stmt)).scalars())

    async def entries_with_buyers(self) -> list[tuple[CreditEntry, int]]:
        """Every entry with its buyer's Telegram id, by buyer and in order: what the ledger CSV lists."""
        stmt = (
            select(CreditEntry, User.telegram_id)
            .join(User, User.id == CreditEntry.user_id)
            .order_by(CreditEntry.user_id, CreditEntry.id)
        )
        return [(entry, telegram_id) for entry, telegram_id in (await self._s.execute(stmt)).tuples()]

    async def balances(self) -> dict[int, int]:
        stmt = select(CreditBalance.user_id, CreditBalance.balance_minor)
        return dict((await self._s.execute(stmt)).tuples().all())


class InsufficientCredit(Exception):
    """An entry would take the buyer's balance below zero; nothing was written."""

    def __init__(self, user_id: int, wanted_minor: int) -> None:
        super().__init__(user_id, wanted_minor)
        self.user_id = user_id
        self.wanted_minor = wanted_minor
