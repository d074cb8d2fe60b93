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
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.credit import CreditRepo, NewEntry
from repositories.orders import OrderRepo
from services.credit.ledger import CreditLedger, Inconsistency, check_ledger
from services.money import from_minor
from services.shop.catalog import NotFound

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

    async def credit_refund(self, order_id: int, amount_minor: int, key: str, actor: str = "shop") -> CreditLine:
        """Store credit instead of an on-chain refund: `amount_minor` (> 0) of FIAT_CURRENCY for the buyer of the
        order, as a refund_credit entry keyed `key` (the caller's id of that refund), with an audit row on the
        order and a message to the buyer. One transaction. Idempotent: a `key` appended before returns that
        entry and changes nothing (no second message). Raises ValueError for an amount that is not positive or
        a key longer than 128 characters, NotFound for a missing order."""
        now = utcnow()
        async with self._session.begin():
            order = await OrderRepo(self._session).get(order_id)
            if order is None:
                raise NotFound
            ledger = CreditLedger(self._session)
            currency = self._settings.fiat_currency
            entry, appended = await ledger.refund_credit(order, amount_minor, key, actor, currency, now)
            if appended:
                after = {"credit_minor": amount_minor, "balance_minor": entry.balance_after_minor, "key": key}
                await AuditRepo(self._session).record(actor, "credit.refund", "order", order_id, after=after)
            return credit_line(entry)

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
