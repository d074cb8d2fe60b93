"""Store credit, the rules: what each kind of entry is keyed by and how it is appended, inside the caller's
transaction; and the check that every buyer's entries add up (pure).

Credit is an amount of FIAT_CURRENCY (minor units) the shop owes a buyer in goods, never in money: it can be
spent at checkout, never withdrawn. Each change is one entry in an append-only ledger
(repositories.credit.CreditRepo.append): one conditional UPDATE of the buyer's balance row, so a balance never
goes below zero however many checkouts race, and a unique key, so a repeated entry changes nothing.

entry             amount    key                             written by
refund_credit     +         refund:<refund id>              OrderLifecycle.refund_credited (the buyer's choice)
spend             −         spend:order:<id>                checkout, in the order's transaction
give_back         +         give_back:order:<id>            OrderLifecycle.expire / cancel (unpaid)
admin_adjustment  ±         adjust:<chat>:<message>         AdminCreditService.adjust, with a reason
expiry            −         expiry:<user>:<last entry id>   CreditService.expire_due (CREDIT_EXPIRY_DAYS)
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.credit import CreditEntry
from models.enums import CreditKind
from models.orders import Order
from repositories.credit import CreditRepo, NewEntry
from services.money import format_fiat, from_minor
from services.outbox import notify_buyer


def refund_key(refund_id: int) -> str:
    """The ledger key of the credit a refund became: one entry per refund, however often it is pressed."""
    return f"refund:{refund_id}"


class CreditLedger:
    """The entries an order's checkout and its closing write, inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session
        self._repo = CreditRepo(session)

    async def refund_credit(
        self, order: Order, amount_minor: int, key: str, actor: str, currency: str, now: datetime
    ) -> tuple[CreditEntry, bool]:
        """Store credit instead of money back: `amount_minor` (> 0) of `currency` for the order's buyer, keyed
        `key`; the buyer is told the amount and their balance. Returns the entry and whether it was appended now:
        a key appended before returns that entry and changes nothing (no second message). Raises ValueError for
        an amount that is not positive or a key that is empty or longer than 128 characters. Writes no audit
        row: that is the caller's step."""
        if amount_minor <= 0 or not key or len(key) > 128:
            raise ValueError(f"a refund credit needs a positive amount and a key: {amount_minor}, {key!r}")
        entry, appended = await self._repo.append(
            NewEntry(key, order.user_id, CreditKind.refund_credit, amount_minor, actor, order.id), now
        )
        if appended:
            amount = format_fiat(from_minor(amount_minor), currency)
            balance = format_fiat(from_minor(entry.balance_after_minor), currency)
            await notify_buyer(self._s, order, "credit_refund", amount=amount, balance=balance)
        return entry, appended

    async def spend(self, user_id: int, order_id: int, amount_minor: int, actor: str, now: datetime) -> None:
        """Credit pays `amount_minor` of the order. Raises repositories.credit.InsufficientCredit when the balance
        no longer covers it (the caller rolls back). Once per order."""
        entry = NewEntry(f"spend:order:{order_id}", user_id, CreditKind.spend, -amount_minor, actor, order_id)
        await self._repo.append(entry, now)

    async def give_back(self, order_id: int, actor: str, now: datetime) -> int:
        """An order that spent credit closed unpaid: the credit comes back. Returns what came back now (0: the
        order spent none, or it came back before)."""
        spent = await self._repo.spent_on(order_id)
        if spent is None:
            return 0
        amount = -spent.amount_minor
        entry = NewEntry(f"give_back:order:{order_id}", spent.user_id, CreditKind.give_back, amount, actor, order_id)
        _, appended = await self._repo.append(entry, now)
        return amount if appended else 0


@dataclass(frozen=True, slots=True)
class Inconsistency:
    """Where a buyer's ledger does not add up: the entry (None: the stored balance) and what is wrong."""

    user_id: int
    entry_id: int | None
    problem: str


def check_ledger(entries: Iterable[CreditEntry], balances: Mapping[int, int]) -> list[Inconsistency]:
    """Every place where the ledger does not add up. `entries` by buyer, oldest first. Per buyer: the first entry
    starts from 0, each starts where the previous ended (balance_before = previous balance_after), ends at
    balance_after = balance_before + amount, never below zero, and the stored balance is the sum of the amounts
    (= the last balance_after); a stored balance without entries must be 0."""
    found: list[Inconsistency] = []
    last_after: dict[int, int] = {}  # per buyer: where the previous entry ended
    total: dict[int, int] = {}  # per buyer: the sum of the amounts so far
    for e in entries:
        previous = last_after.get(e.user_id, 0)
        if e.balance_before_minor != previous:
            found.append(
                Inconsistency(e.user_id, e.id, f"balance_before {e.balance_before_minor} ≠ previous balance {previous}")
            )
        if e.balance_after_minor != e.balance_before_minor + e.amount_minor:
            found.append(
                Inconsistency(
                    e.user_id,
                    e.id,
                    f"balance_after {e.balance_after_minor} ≠ balance_before {e.balance_before_minor}"
                    f" + amount {e.amount_minor}",
                )
            )
        if e.balance_after_minor < 0:
            found.append(Inconsistency(e.user_id, e.id, f"balance_after {e.balance_after_minor} is below zero"))
        last_after[e.user_id] = e.balance_after_minor
        total[e.user_id] = total.get(e.user_id, 0) + e.amount_minor
    for user_id in sorted(set(total) | set(balances)):
        summed, stored = total.get(user_id, 0), balances.get(user_id, 0)
        if summed != stored:
            found.append(Inconsistency(user_id, None, f"stored balance {stored} ≠ sum of entries {summed}"))
    return found
