import functools

from sqlalchemy import Select, bindparam, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from models.enums import Chain, PaymentStatus
from models.orders import DerivationCounter, Invoice, Payment
from repositories.base import Dialect, dialect_of, insert_on_conflict


@functools.cache
def _take_index(dialect: Dialect) -> ReturningInsert[tuple[int]]:
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
    ).returning(counters.c.next_index)


@functools.cache
def _last_paid_index() -> Select[tuple[int]]:
    """WalletRepo.last_paid_index's statement, with the parameter `chain`; built once (checkout runs it). Over the
    tables' columns: a Core select, which the session runs without the ORM's result setup (the same SQL)."""
    invoices, payments = Invoice.__table__.c, Payment.__table__.c
    return (
        select(func.max(invoices.derivation_index))
        .join_from(Invoice.__table__, Payment.__table__, payments.invoice_id == invoices.id)
        .where(invoices.chain == bindparam("chain"), payments.status != PaymentStatus.reorged)
    )


class WalletRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def take_next_index(self, chain: Chain) -> int:
        """The chain's next unused derivation index, taken in the caller's transaction.

        One statement, INSERT ... ON CONFLICT DO UPDATE ... RETURNING on the counter row (made at 1 for a
        chain's first index): PostgreSQL row-locks it until commit, SQLite's BEGIN IMMEDIATE serialises
        writers, so two transactions can never take the same index.
        """
        stmt = _take_index(dialect_of(self._s))
        return int((await self._s.execute(stmt, {"chain": chain.value, "next_index": 1})).scalar_one()) - 1

    async def highest_index(self, chain: Chain) -> int | None:
        result = await self._s.execute(select(func.max(Invoice.derivation_index)).where(Invoice.chain == chain))
        value = result.scalar_one_or_none()
        return None if value is None else int(value)

    async def last_paid_index(self, chain: Chain) -> int | None:
        """The highest index whose address has received a payment still on chain."""
        result = await self._s.execute(_last_paid_index(), {"chain": chain})
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
