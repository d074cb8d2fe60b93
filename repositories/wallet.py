import functools
from dataclasses import dataclass

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from models.enums import Chain, PaymentStatus
from models.orders import DerivationCounter, Invoice, Payment
from repositories.base import Dialect, dialect_of, insert_on_conflict


@dataclass(frozen=True, slots=True)
class TakenIndex:
    """A derivation index just taken, and the highest index of its chain whose address has received a payment
    still on chain (None: no payment yet), read in the same statement."""

    index: int
    last_paid: int | None


# The last paid index of the counter row's chain (a payment not reorged), a subquery of the RETURNING clause.
# Written as SQL: SQLAlchemy renders RETURNING's columns without their tables, inside a subquery too, which makes
# a join ambiguous. Built from the enum's value, no input (S608).
_LAST_PAID_OF_ROW = (
    "(SELECT max(paid.derivation_index) FROM invoices AS paid JOIN payments ON payments.invoice_id = paid.id"  # noqa: S608
    f" WHERE paid.chain = derivation_counters.chain AND payments.status != '{PaymentStatus.reorged.value}')"
)


@functools.cache
def _take_index(dialect: Dialect) -> ReturningInsert[tuple[int, int | None]]:
    """WalletRepo.take_next_index's statement, with the parameters `chain` and `next_index` (1); built and
    compiled once per dialect (insert_on_conflict): every checkout takes an index."""
    counters = DerivationCounter.__table__
    return insert_on_conflict(
        dialect,
        counters,  # type: ignore[arg-type]
        # the 1 as SQL, not a bound value: the clause is carried as text and may bind nothing
        lambda insert: insert.on_conflict_do_update(
            index_elements=["chain"], set_={"next_index": counters.c.next_index + literal_column("1")}
        ),
    ).returning(counters.c.next_index, literal_column(_LAST_PAID_OF_ROW))


class WalletRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def take_next_index(self, chain: Chain) -> TakenIndex:
        """The chain's next unused derivation index, taken in the caller's transaction, with its last paid index.

        One statement, INSERT ... ON CONFLICT DO UPDATE ... RETURNING on the counter row (made at 1 for a
        chain's first index): PostgreSQL row-locks it until commit, SQLite's BEGIN IMMEDIATE serialises
        writers, so two transactions can never take the same index. The last paid index is read in the same
        statement; on PostgreSQL from the snapshot it started with, before it waited for the row lock: payments
        are recorded without that lock, so a separate statement after it is no less racy (one a moment later
        is missed either way), and the only reader is checkout's warning about the run of unused addresses.
        """
        stmt = _take_index(dialect_of(self._s))
        taken, last_paid = (await self._s.execute(stmt, {"chain": chain.value, "next_index": 1})).one()
        return TakenIndex(int(taken) - 1, None if last_paid is None else int(last_paid))

    async def highest_index(self, chain: Chain) -> int | None:
        result = await self._s.execute(select(func.max(Invoice.derivation_index)).where(Invoice.chain == chain))
        value = result.scalar_one_or_none()
        return None if value is None else int(value)

    async def token_invoices_paid(self) -> list[Invoice]:
        """Token invoices that received a payment still on chain, by network and index: the addresses that
        may hold tokens to sweep."""
        result = await self._s.execute(
            select(Invoice)
            .where(
                Invoice.token.is_not(None),
                select(Payment.id)
                .where(Payment.invoice_id == Invoice.id, Payment.status != PaymentStatus.reorged)
                .exists(),
            )
            .order_by(Invoice.chain, Invoice.derivation_index)
        )
        return list(result.scalars())

    async def paid_indices(self, chain: Chain) -> list[int]:
        """Indices whose address has received a payment still on chain."""
        result = await self._s.execute(
            select(Invoice.derivation_index)
            .distinct()
            .join(Payment, Payment.invoice_id == Invoice.id)
            .where(Invoice.chain == chain, Payment.status != PaymentStatus.reorged)
            .order_by(Invoice.derivation_index)
        )
        return [int(i) for i in result.scalars()]
