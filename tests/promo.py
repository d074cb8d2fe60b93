"""Seeding promotions straight into the database, and reading what they left there."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.enums import VoucherKind
from models.orders import Order
from models.promotions import CartVoucher, Tier, Voucher, VoucherUse
from models.schema import metadata


async def seed_voucher(
    sessions: async_sessionmaker[AsyncSession],
    code: str = "SUMMER10",
    kind: VoucherKind = VoucherKind.percent,
    value: int = 1000,
    **fields: Any,
) -> int:
    """A voucher (10 % off, unlimited, by default); returns its id."""
    async with sessions.begin() as s:
        voucher = Voucher(code=code, kind=kind, value=value, **fields)
        s.add(voucher)
        await s.flush()
        return voucher.id


async def seed_tier(
    sessions: async_sessionmaker[AsyncSession], name: str, threshold_minor: int, percent_bp: int
) -> None:
    async with sessions.begin() as s:
        s.add(Tier(name=name, threshold_minor=threshold_minor, percent_bp=percent_bp))


async def voucher_state(sessions: async_sessionmaker[AsyncSession], code: str) -> tuple[int, int, int]:
    """(uses counted on the voucher, uses held by orders, carts carrying it)."""
    async with sessions() as s:
        voucher = (await s.execute(select(Voucher).where(Voucher.code == code))).scalar_one()
        held = len((await s.execute(select(VoucherUse).where(VoucherUse.voucher_id == voucher.id))).all())
        carts = len((await s.execute(select(CartVoucher).where(CartVoucher.voucher_id == voucher.id))).all())
        return voucher.uses, held, carts


async def orders(sessions: async_sessionmaker[AsyncSession]) -> list[Order]:
    async with sessions() as s:
        return list((await s.execute(select(Order).order_by(Order.id))).scalars())


async def promo_tables(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[str]]:
    """Every row of the tables a refused code or link must not touch."""
    names = {"vouchers", "voucher_uses", "cart_vouchers", "orders", "users", "tiers", "shop_settings"}
    async with sessions() as s:
        return {
            t.name: sorted(map(repr, (await s.execute(select(t))).all()))
            for t in metadata.sorted_tables
            if t.name in names
        }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
