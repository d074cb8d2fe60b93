from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import Chain, PaymentStatus
from models.orders import DerivationCounter, Invoice, Payment
from repositories.base import insert_ignoring_conflict


class WalletRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def take_next_index(self, chain: Chain) -> int:
        """The chain's next unused derivation index, taken in the caller's transaction.

        UPDATE ... RETURNING on the counter row: PostgreSQL row-locks it until commit, SQLite's
        BEGIN IMMEDIATE serialises writers, so two transactions can never take the same index.
        """
        await insert_ignoring_conflict(
            self._s,
            DerivationCounter.__table__,  # type: ignore[arg-type]
            {"chain": chain.value, "next_index": 0},
            ["chain"],
        )
        result = await self._s.execute(
            update(DerivationCounter)
            .where(DerivationCounter.chain == chain)
            .values(next_index=DerivationCounter.next_index + 1)
            .returning(DerivationCounter.next_index)
        )
        return int(result.scalar_one()) - 1

    async def highest_index(self, chain: Chain) -> int | None:
        result = await self._s.execute(select(func.max(Invoice.derivation_index)).where(Invoice.chain == chain))
        value = result.scalar_one_or_none()
        return None if value is None else int(value)

    async def last_paid_index(self, chain: Chain) -> int | None:
        """The highest index whose address has received a payment still on chain."""
        result = await self._s.execute(
            select(func.max(Invoice.derivation_index))
            .join(Payment, Payment.invoice_id == Invoice.id)
            .where(Invoice.chain == chain, Payment.status != PaymentStatus.reorged)
        )
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
