"""Store credit outside checkout: a buyer's balance and history, credit instead of a refund, expiry, and the
check that the ledger adds up. Each method is one transaction; the rules are services.credit.ledger's."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.credit import CreditEntry
from models.database import read_only
from models.enums import CreditKind
from repositories.credit import CreditRepo, NewEntry
from services.credit.ledger import Inconsistency, check_ledger
from services.money import from_minor

PAGE_SIZE = 10
EXPIRY_BATCH = 500  # buyers per run: the scheduler comes back for the rest
EXPIRY_ACTOR = "credit-expiry"


@dataclass(frozen=True, slots=True)
class CreditLine:
    """One ledger entry as buyers and admins see it."""

    id: int
    created_at: datetime
    kind: CreditKind
    amount: Decimal  # signed
    balance_after: Decimal
    order_id: int | None
    reason: str | None
    actor: str


@dataclass(frozen=True, slots=True)
class CreditHistory:
    balance: Decimal
    lines: list[CreditLine]  # one page, newest first
    more: bool


def credit_line(entry: CreditEntry) -> CreditLine:
    return CreditLine(
        entry.id,
        entry.created_at,
        entry.kind,
        from_minor(entry.amount_minor),
        from_minor(entry.balance_after_minor),
        entry.order_id,
        entry.reason,
        entry.actor,
    )


async def credit_history(session: AsyncSession, user_id: int, page: int, size: int | None = PAGE_SIZE) -> CreditHistory:
    """The buyer's balance and one page of their entries (size None: all of them), newest first, inside the
    caller's transaction."""
    repo = CreditRepo(session)
    entries, more = await repo.history(user_id, page, size)
    return CreditHistory(from_minor(await repo.balance(user_id)), [credit_line(e) for e in entries], more)


class CreditService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def history(self, user_id: int, page: int) -> CreditHistory:
        """The buyer's balance and their entries, one page, newest first. Read-only."""
        async with read_only(self._session):
            return await credit_history(self._session, user_id, page)

    async def expire_due(self, now: datetime) -> int:
        """Expire the credit of buyers whose last entry is CREDIT_EXPIRY_DAYS or more before `now` (up to
        EXPIRY_BATCH of them): an expiry entry takes their whole balance. Nothing when CREDIT_EXPIRY_DAYS is 0.
        One transaction. Idempotent, also in several processes at once: each expiry is keyed by the entry it
        follows, so it happens once. Returns how many balances expired."""
        days = self._settings.credit_expiry_days
        if not days:
            return 0
        expired = 0
        async with self._session.begin():
            repo = CreditRepo(self._session)
            for user_id in await repo.unused_since(now - timedelta(days=days), EXPIRY_BATCH):
                balance = await repo.balance(user_id, lock=True)
                last = await repo.last_entry(user_id)
                if not balance or last is None or last.created_at >= now - timedelta(days=days):
                    continue  # spent, topped up or expired meanwhile
                key = f"expiry:{user_id}:{last.id}"
                entry = NewEntry(key, user_id, CreditKind.expiry, -balance, EXPIRY_ACTOR, reason=f"unused {days} days")
                _, appended = await repo.append(entry, now)
                expired += appended
        return expired

    async def check(self) -> list[Inconsistency]:
        """Every place where a buyer's entries do not chain or do not add up to their stored balance (see
        services.credit.ledger.check_ledger); empty when the ledger is sound. Read-only."""
        async with read_only(self._session):
            repo = CreditRepo(self._session)
            return check_ledger(await repo.all_entries(), await repo.balances())
