"""Store credit for admins: a buyer's ledger, adjusting their credit with a reason, and the whole ledger as a
CSV (offered on the Statistics screen)."""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import CreditKind
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.credit import CreditRepo, InsufficientCredit, NewEntry
from repositories.outbox import OutboxRepo
from repositories.users import UserRepo
from services.credit.account import CreditHistory, CreditLine, credit_history, credit_line
from services.money import format_fiat, from_minor, to_minor
from services.shop.catalog import NotFound

REASON_LIMIT = 200
MAX_ADJUSTMENT_MINOR = 100_000_000  # one million in the shop's currency: a typo guard
LEDGER_HEADER = (
    "entry_id",
    "created_at",
    "user_id",
    "telegram_id",
    "kind",
    "amount_fiat",
    "balance_before_fiat",
    "balance_after_fiat",
    "fiat_currency",
    "order_id",
    "reason",
    "actor",
    "key",
)


def parse_adjustment(text: str) -> tuple[int, str]:
    """ "+5.00 goodwill" or "-2.50 correction" (a signed amount of FIAT_CURRENCY, at most 2 decimals, then the
    reason, at most REASON_LIMIT characters) as (minor units, reason). Raises ValueError."""
    amount, _, reason = text.strip().partition(" ")
    reason = reason.strip()
    if not amount or amount[0] not in "+-−" or not reason or len(reason) > REASON_LIMIT:
        raise ValueError(text)
    try:
        minor = to_minor(Decimal(amount[1:].replace(",", ".")))
    except (InvalidOperation, ValueError):
        raise ValueError(text) from None
    if minor <= 0 or minor > MAX_ADJUSTMENT_MINOR:
        raise ValueError(text)
    return (minor if amount[0] == "+" else -minor), reason


class AdjustmentRefused(Exception):
    """An adjustment that would take the buyer's credit below zero; nothing was written. `balance` is theirs."""

    def __init__(self, balance: Decimal) -> None:
        super().__init__(balance)
        self.balance = balance


@dataclass(frozen=True, slots=True)
class LedgerExport:
    filename: str
    content: bytes
    entries: int


class AdminCreditService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def ledger(self, user_id: int, page: int) -> CreditHistory:
        """The buyer's balance and entries, one page, newest first. Raises NotFound. Read-only."""
        async with read_only(self._session):
            if await UserRepo(self._session).get(user_id) is None:
                raise NotFound
            return await credit_history(self._session, user_id, page)

    async def adjust(self, actor: str, user_id: int, amount_minor: int, reason: str, key: str) -> CreditLine:
        """Add (positive) or take (negative) `amount_minor` of the buyer's credit, for `reason`: an
        admin_adjustment entry keyed `key` (the admin's message), an audit row and a message to the buyer. One
        transaction. Idempotent: a `key` appended before returns that entry and changes nothing. Raises
        ValueError for a zero amount or an empty or overlong reason, NotFound for a missing buyer, and
        AdjustmentRefused (nothing written) when it would take the balance below zero."""
        reason = reason.strip()
        if not amount_minor or not reason or len(reason) > REASON_LIMIT:
            raise ValueError("an adjustment needs an amount and a reason")
        try:
            async with self._session.begin():
                return await self._adjust(actor, user_id, amount_minor, reason, key)
        except InsufficientCredit:
            async with read_only(self._session):
                balance = await CreditRepo(self._session).balance(user_id)
            raise AdjustmentRefused(from_minor(balance)) from None

    async def _adjust(self, actor: str, user_id: int, amount_minor: int, reason: str, key: str) -> CreditLine:
        user = await UserRepo(self._session).get(user_id)
        if user is None:
            raise NotFound
        entry, appended = await CreditRepo(self._session).append(
            NewEntry(key, user_id, CreditKind.admin_adjustment, amount_minor, actor, reason=reason), utcnow()
        )
        if appended:
            after = {"amount_minor": amount_minor, "balance_minor": entry.balance_after_minor}
            await AuditRepo(self._session).record(
                actor,
                "credit.adjust",
                "user",
                user_id,
                before={"balance_minor": entry.balance_before_minor},
                after=after,
                reason=reason,
            )
            currency = self._settings.fiat_currency
            await OutboxRepo(self._session).enqueue(
                "credit_adjusted",
                user.telegram_id,
                amount=("+" if amount_minor > 0 else "−") + format_fiat(from_minor(abs(amount_minor)), currency),
                balance=format_fiat(from_minor(entry.balance_after_minor), currency),
            )
        return credit_line(entry)

    async def ledger_csv(self, now: datetime | None = None) -> LedgerExport:
        """Every ledger entry, by buyer and in order, with the balances before and after. Read-only."""
        now = now or utcnow()
        async with read_only(self._session):
            rows = await CreditRepo(self._session).entries_with_buyers()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LEDGER_HEADER)
        for entry, telegram_id in rows:
            writer.writerow(
                [
                    entry.id,
                    entry.created_at.isoformat(timespec="seconds"),
                    entry.user_id,
                    telegram_id,
                    entry.kind.value,
                    str(from_minor(entry.amount_minor)),
                    str(from_minor(entry.balance_before_minor)),
                    str(from_minor(entry.balance_after_minor)),
                    self._settings.fiat_currency,
                    entry.order_id or "",
                    entry.reason or "",
                    entry.actor,
                    entry.key,
                ]
            )
        name = f"credit-ledger-{now.astimezone(UTC).date().isoformat()}.csv"
        return LedgerExport(name, out.getvalue().encode(), len(rows))
