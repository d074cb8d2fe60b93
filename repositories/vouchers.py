"""Vouchers and their uses. Flushes, never commits. A use is taken and given back only by conditional
updates, so a voucher's `max_uses` holds however many checkouts race for it."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.promotions import Voucher, VoucherUse
from repositories.base import page_of


class VoucherRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def by_code(self, code: str) -> Voucher | None:
        return (
            await self._s.execute(select(Voucher).where(Voucher.code == code).execution_options(populate_existing=True))
        ).scalar_one_or_none()

    async def get(self, voucher_id: int) -> Voucher | None:
        return await self._s.get(Voucher, voucher_id, populate_existing=True)

    async def add(self, vouchers: Sequence[Voucher]) -> None:
        """Raises sqlalchemy.exc.IntegrityError when a code is taken."""
        self._s.add_all(vouchers)
        await self._s.flush()

    async def page(self, page: int, size: int) -> tuple[list[Voucher], bool]:
        """Newest first; reward vouchers (owned by one buyer) are left out: they are the buyers' own."""
        stmt = select(Voucher).where(Voucher.owner_id.is_(None)).order_by(Voucher.id.desc())
        return await page_of(self._s, stmt, page, size)

    async def of_batch(self, batch: str) -> list[Voucher]:
        return list(
            (await self._s.execute(select(Voucher).where(Voucher.batch == batch).order_by(Voucher.id))).scalars()
        )

    async def owned_by(self, user_id: int, now: datetime) -> list[Voucher]:
        """The buyer's own vouchers (referral rewards) that they can still use."""
        stmt = (
            select(Voucher)
            .where(
                Voucher.owner_id == user_id,
                Voucher.is_active,
                or_(Voucher.max_uses.is_(None), Voucher.uses < Voucher.max_uses),
                or_(Voucher.valid_until.is_(None), Voucher.valid_until > now),
            )
            .order_by(Voucher.id)
        )
        return list((await self._s.execute(stmt)).scalars())

    async def set_values(self, voucher_id: int, **values: Any) -> bool:
        result = await self._s.execute(update(Voucher).where(Voucher.id == voucher_id).values(**values))
        return getattr(result, "rowcount", 0) == 1

    async def uses_by(self, voucher_id: int, user_id: int) -> int:
        """How many of the buyer's orders hold a use of this voucher now."""
        stmt = select(func.count()).where(VoucherUse.voucher_id == voucher_id, VoucherUse.user_id == user_id)
        return int((await self._s.execute(stmt)).scalar_one())

    async def take_use(self, voucher_id: int, user_id: int, order_id: int, now: datetime) -> bool:
        """One use for the order, if the voucher is active, valid at `now` and not used up: a conditional
        UPDATE, so of many checkouts racing for the last use exactly one gets it. False, changing nothing,
        otherwise."""
        result = await self._s.execute(
            update(Voucher)
            .where(
                Voucher.id == voucher_id,
                Voucher.is_active,
                or_(Voucher.max_uses.is_(None), Voucher.uses < Voucher.max_uses),
                or_(Voucher.valid_from.is_(None), Voucher.valid_from <= now),
                or_(Voucher.valid_until.is_(None), Voucher.valid_until > now),
            )
            .values(uses=Voucher.uses + 1)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        self._s.add(VoucherUse(voucher_id=voucher_id, user_id=user_id, order_id=order_id, created_at=now))
        await self._s.flush()
        return True

    async def give_back(self, order_id: int) -> str | None:
        """The order's use of a voucher, if it holds one, is given back; returns that voucher's code. Once: the
        second call finds no use and does nothing."""
        row = (
            await self._s.execute(
                delete(VoucherUse).where(VoucherUse.order_id == order_id).returning(VoucherUse.voucher_id)
            )
        ).first()
        if row is None:
            return None
        voucher_id = int(row[0])
        await self._s.execute(
            update(Voucher).where(Voucher.id == voucher_id, Voucher.uses > 0).values(uses=Voucher.uses - 1)
        )
        return (await self._s.execute(select(Voucher.code).where(Voucher.id == voucher_id))).scalar_one_or_none()
