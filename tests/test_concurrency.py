"""No oversell under real concurrency: many buyers check out the same stock at once, each task with
its own session and connection, on SQLite and on PostgreSQL, and across two processes; and a single-use
voucher code is used exactly once however many checkouts race for it."""

import asyncio
import json
import random
import sys
import time

import pytest
from sqlalchemy import func, insert, select

from config import ROOT
from models.enums import Chain, StockStatus
from models.orders import Invoice, Order, Reservation
from models.promotions import CartVoucher, Voucher, VoucherUse
from models.shop import CartItem, StockUnit, User
from repositories.stock import StockRepo
from services.orders.lifecycle import OutOfStock
from services.payments.rates import rate_service_from_settings
from services.shop.checkout import CheckoutService
from services.shop.vouchers import VoucherRefused
from tests.promo import seed_voucher
from tests.shop import seed_product, variant_of

BUYERS, UNITS = 1000, 100


async def buyers_with_carts(sessions, goods) -> tuple[dict[int, int], dict[int, int]]:
    """100 units and 1,000 buyers who each want 1 to 3 of them: (wanted per buyer, user id per telegram id)."""
    product = await seed_product(sessions, units=UNITS, goods=goods)
    rng = random.Random(7)
    wanted = {n: rng.randint(1, 3) for n in range(BUYERS)}
    async with sessions.begin() as s:
        await s.execute(insert(User), [{"telegram_id": 10_000 + n, "language": "en"} for n in range(BUYERS)])
        ids = dict((await s.execute(select(User.telegram_id, User.id))).tuples().all())
        variant = await variant_of(s, product)
        await s.execute(
            insert(CartItem),
            [
                {"user_id": ids[10_000 + n], "product_id": product, "variant_id": variant, "quantity": q}
                for n, q in wanted.items()
            ],
        )
    return wanted, ids


async def check_no_oversell(sessions, results: dict[int, int | None], wanted: dict[int, int]) -> None:
    won = {n: order for n, order in results.items() if order is not None}
    async with sessions() as s:
        held = dict(
            (
                await s.execute(
                    select(StockUnit.order_id, func.count())
                    .where(StockUnit.status == StockStatus.reserved)
                    .group_by(StockUnit.order_id)
                )
            )
            .tuples()
            .all()
        )
        reservations = dict(
            (await s.execute(select(Reservation.order_id, func.count()).group_by(Reservation.order_id))).tuples().all()
        )
        orders = (await s.execute(select(func.count()).select_from(Order))).scalar_one()
        indices = (await s.execute(select(Invoice.chain, Invoice.derivation_index))).all()
        available = (
            await s.execute(select(func.count()).where(StockUnit.status == StockStatus.available))
        ).scalar_one()
        miscounted = await StockRepo(s).miscounted()
    assert sum(held.values()) <= UNITS and sum(held.values()) + available == UNITS
    assert orders == len(won) and len(won) > 0
    for n, order in won.items():  # every successful order holds exactly what it asked for
        assert held[order] == reservations[order] == wanted[n]
    assert set(held) == set(won.values())  # failed checkouts hold nothing
    assert len(indices) == len(set(indices))  # no derivation index taken twice
    assert available < 3  # the shelf was emptied as far as the requests allowed
    assert miscounted == []  # the variant's counter is its available units


async def test_1000_concurrent_checkouts_never_oversell(sessions, settings, wallet, goods) -> None:
    wanted, ids = await buyers_with_carts(sessions, goods)
    rates = rate_service_from_settings(settings)
    chains = list(Chain)

    async def checkout(n: int) -> int | None:
        async with sessions() as s:
            try:
                result = await CheckoutService(s, settings, wallet, rates).checkout(ids[10_000 + n], chains[n % 4])
            except OutOfStock:
                return None
            return result.order_id

    started = time.perf_counter()
    results = await asyncio.gather(*(checkout(n) for n in range(BUYERS)))
    elapsed = time.perf_counter() - started
    print(
        f"\n{BUYERS} checkouts in {elapsed:.2f}s: {BUYERS / elapsed:.0f} checkouts/s "
        f"({sessions.kw['bind'].dialect.name})"
    )
    await check_no_oversell(sessions, dict(enumerate(results)), wanted)


@pytest.mark.stress
async def test_1000_checkouts_across_two_processes_sharing_the_database(db_url: str, sessions, goods) -> None:
    wanted, _ = await buyers_with_carts(sessions, goods)
    half = BUYERS // 2
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.checkout_worker",
            db_url,
            str(first),
            str(half),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for first in (0, half)
    ]
    outputs = await asyncio.gather(*(w.communicate() for w in workers))
    assert [w.returncode for w in workers] == [0, 0]
    results = {int(n): order for out, _ in outputs for n, order in json.loads(out).items()}
    assert len(results) == BUYERS
    await check_no_oversell(sessions, results, wanted)


async def test_50_concurrent_checkouts_with_a_single_use_code_give_exactly_one_discounted_order(
    sessions, settings, wallet, goods
) -> None:
    """Each buyer's cart carries the code; all check out at once, each task with its own session. The
    conditional update hands out the one use exactly once: one order is discounted, every other checkout
    is refused (placing nothing) and loses the code from its cart."""
    buyers = 50
    product = await seed_product(sessions, units=buyers, goods=goods)
    voucher = await seed_voucher(sessions, "ONLY-ONE", max_uses=1)
    async with sessions.begin() as s:
        await s.execute(insert(User), [{"telegram_id": 20_000 + n, "language": "en"} for n in range(buyers)])
        ids = list((await s.execute(select(User.id).where(User.telegram_id >= 20_000))).scalars())
        variant = await variant_of(s, product)
        await s.execute(
            insert(CartItem),
            [{"user_id": i, "product_id": product, "variant_id": variant, "quantity": 1} for i in ids],
        )
        await s.execute(insert(CartVoucher), [{"user_id": i, "voucher_id": voucher} for i in ids])
    rates = rate_service_from_settings(settings)
    chains = list(Chain)

    async def checkout(n: int, user_id: int) -> int | None:
        async with sessions() as s:
            try:
                result = await CheckoutService(s, settings, wallet, rates).checkout(user_id, chains[n % 4])
            except VoucherRefused as e:
                assert e.problem.key == "voucher.used_up"
                return None
            return result.order_id

    results = await asyncio.gather(*(checkout(n, user_id) for n, user_id in enumerate(ids)))
    won = [order for order in results if order is not None]
    assert len(won) == 1
    async with sessions() as s:
        placed = list((await s.execute(select(Order))).scalars())
        held = (await s.execute(select(func.count()).select_from(Reservation))).scalar_one()
        uses = (await s.execute(select(Voucher.uses).where(Voucher.id == voucher))).scalar_one()
        used_by = list((await s.execute(select(VoucherUse.order_id))).scalars())
        carts_with_code = (await s.execute(select(func.count()).select_from(CartVoucher))).scalar_one()
    assert [(o.id, o.voucher_code, o.voucher_discount_minor, o.total_minor) for o in placed] == [
        (won[0], "ONLY-ONE", 125, 1125)
    ]
    assert (held, uses, used_by, carts_with_code) == (1, 1, won, 0)


async def test_a_buyer_pressing_pay_many_times_at_once_gets_one_order(sessions, settings, wallet, goods) -> None:
    """Every press but the first gets that order back (`existing`): the open order is read after the buyer's row
    lock is granted (SQLite: the write lock), so a press that waited for it sees the order the first one
    committed, and not an empty cart."""
    product = await seed_product(sessions, units=5, goods=goods)
    async with sessions.begin() as s:
        user = User(telegram_id=10_000, language="en")
        s.add(user)
        await s.flush()
        s.add(CartItem(user_id=user.id, product_id=product, variant_id=await variant_of(s, product), quantity=2))
    rates = rate_service_from_settings(settings)

    async def press() -> tuple[int, bool]:
        async with sessions() as s:
            result = await CheckoutService(s, settings, wallet, rates).checkout(user.id, Chain.btc)
        return result.order_id, result.existing

    results = await asyncio.gather(*(press() for _ in range(8)))
    placed = [order for order, existing in results if not existing]
    assert len(placed) == 1 and {order for order, _ in results} == set(placed)
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Order))).scalar_one() == 1
