"""The available-units counter (Variant.available_units): each StockRepo change moves it by exactly the units it
changed; every availability read uses it; `python -m bot stock check` names a wrong one; concurrent checkouts,
expiries and admin removals of one variant leave it equal to its units, on SQLite and on PostgreSQL; on
PostgreSQL a checkout and an expiry over the same variants take the counters' row locks in one order and so
never deadlock; migration 0014 counts the units already there."""

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.database import alembic_config, create_engine, create_sessionmaker
from models.enums import Chain, ProductKind, StockStatus
from models.orders import Order
from models.shop import CartItem, Product, StockUnit, User, Variant
from models.types import utcnow
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo
from services.admin.orders import AdminOrdersService
from services.admin.stock import AdminStockService, Miscount
from services.orders.lifecycle import Line, OrderLifecycle, OutOfStock
from services.payments.rates import rate_service_from_settings
from services.shop.checkout import CheckoutService
from tests.process import bot_command
from tests.shop import seed_product, variant_of


async def counters(sessions: async_sessionmaker[AsyncSession], *variant_ids: int) -> list[int]:
    async with sessions() as s:
        found = dict((await s.execute(select(Variant.id, Variant.available_units))).tuples().all())
    return [found[v] for v in variant_ids]


async def buyer_order(s: AsyncSession, telegram_id: int) -> int:
    """An open order of a new buyer, holding nothing yet."""
    user = User(telegram_id=telegram_id, language="en")
    s.add(user)
    await s.flush()
    order = Order(user_id=user.id, total_minor=0, fiat_currency="USD", expires_at=utcnow() + timedelta(hours=1))
    s.add(order)
    await s.flush()
    return order.id


async def test_each_change_of_a_unit_moves_its_variants_counter_by_the_units_changed(sessions) -> None:
    product = await seed_product(sessions, units=0, kind=ProductKind.physical)
    async with sessions.begin() as s:
        a = await variant_of(s, product)
        b = (await VariantRepo(s).add(product, "B", 500)).id
    until = utcnow() + timedelta(hours=1)

    async with sessions.begin() as s:
        stock = StockRepo(s)
        await stock.add_units(product, a, [None] * 5, utcnow())
        await stock.add_units(product, b, [None] * 3, utcnow())
        await stock.add_units(product, b, [], utcnow())  # nothing added: nothing moves
    assert await counters(sessions, a, b) == [5, 3]

    async with sessions.begin() as s:
        stock, order = StockRepo(s), await buyer_order(s, 1)
        assert len(await stock.reserve(a, 2, order, until)) == 2
        assert len(await stock.reserve(b, 1, order, until)) == 1
        assert await stock.reserve(b, 3, order, until) == []  # too few: nothing held, nothing moves
    assert await counters(sessions, a, b) == [3, 2]

    async with sessions.begin() as s:
        assert await StockRepo(s).release(order) == 3  # both variants' units back, each counter by its own
        assert await StockRepo(s).release(order) == 0
    assert await counters(sessions, a, b) == [5, 3]

    async with sessions.begin() as s:
        stock, order = StockRepo(s), await buyer_order(s, 2)
        await stock.reserve(a, 1, order, until)
        assert await stock.sell(order, utcnow()) == 1  # held → sold: already off the shelf
    assert await counters(sessions, a, b) == [4, 3]

    async with sessions.begin() as s:
        stock = StockRepo(s)
        assert await stock.remove_newest_available(a, 3) == 3
        assert await stock.remove_variant_available(b) == 3
        assert await stock.remove_variant_available(b) == 0
    assert await counters(sessions, a, b) == [1, 0]

    async with sessions.begin() as s:
        await StockRepo(s).add_units(product, b, [None] * 2, utcnow())
        assert await StockRepo(s).remove_available([product]) == 3  # one statement, both variants
    assert await counters(sessions, a, b) == [0, 0]

    with pytest.raises(IntegrityError):  # never below zero, whatever a caller asks
        async with sessions.begin() as s:
            await s.execute(update(Variant).where(Variant.id == a).values(available_units=Variant.available_units - 1))


async def test_every_availability_read_is_the_counter(sessions) -> None:
    """A counter set by hand (what `stock check` is for) is what the card, the lists and the cart read: none of
    them counts unit rows any more. An unlimited product keeps NULL (it never sells out)."""
    product = await seed_product(sessions, units=4, kind=ProductKind.physical)
    unlimited = await seed_product(sessions, name="Licence", units=0, kind=ProductKind.unlimited, category="Keys")
    async with sessions.begin() as s:
        variant = await variant_of(s, product)
        other = (await VariantRepo(s).add(product, "B", 500)).id
        await StockRepo(s).add_units(product, other, [None] * 2, utcnow())
        await s.execute(update(Variant).where(Variant.id == variant).values(available_units=9))
        endless = await variant_of(s, unlimited)
    async with sessions() as s:
        assert await StockRepo(s).available_of_variants([variant, other, endless]) == {
            variant: 9,
            other: 2,
            endless: 0,  # no payload yet: nothing to deliver
        }
        sub = (await s.execute(select(Product.subcategory_id).where(Product.id == product))).scalar_one()
        listed, _ = await CatalogRepo(s).products_with_stock_page(sub, 0, 10)
        assert [(p.id, n) for p, n, *_ in listed] == [(product, 11)]  # the product: its variants' counters
        assert type(listed[0][1]) is int  # not PostgreSQL's numeric sum
        tallies = await StockRepo(s).all_unit_counts([product])
        assert tallies == {(product, StockStatus.available): 11}
    async with sessions.begin() as s:  # put it right for the check every test ends with
        await s.execute(update(Variant).where(Variant.id == variant).values(available_units=4))


async def test_the_stock_check_names_a_corrupted_counter(sessions, db_url) -> None:
    editor = await seed_product(sessions, units=6, kind=ProductKind.physical)
    chess = await seed_product(sessions, name="Chess", units=2, kind=ProductKind.physical, category="Games")
    ok = bot_command(db_url, "stock", "check")
    assert (ok.returncode, ok.stdout) == (0, "stock counters consistent\n"), ok.stderr

    async with sessions.begin() as s:  # someone edits a counter by hand, and deletes a unit behind its back
        editor_v, chess_v = await variant_of(s, editor), await variant_of(s, chess)
        await s.execute(update(Variant).where(Variant.id == editor_v).values(available_units=7))
        one = (await s.execute(select(StockUnit.id).where(StockUnit.variant_id == chess_v).limit(1))).scalar_one()
        await s.execute(delete(StockUnit).where(StockUnit.id == one))
    bad = bot_command(db_url, "stock", "check")
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.splitlines() == [
        f"variant {editor_v} of product {editor}: counter 7 ≠ 6 available units",
        f"variant {chess_v} of product {chess}: counter 2 ≠ 1 available units",
        "stock counters inconsistent: 2 variant(s)",
    ]
    async with sessions() as s:
        assert await AdminStockService(s, None).miscounts() == [
            Miscount(editor_v, editor, 7, 6),
            Miscount(chess_v, chess, 2, 1),
        ]

    async with sessions.begin() as s:
        await s.execute(update(Variant).where(Variant.id == editor_v).values(available_units=6))
        await s.execute(update(Variant).where(Variant.id == chess_v).values(available_units=1))
    assert bot_command(db_url, "stock", "check").returncode == 0


async def test_concurrent_checkouts_expiries_and_removals_keep_the_counter(sessions, settings, wallet, goods) -> None:
    """One digital variant with 120 units. At once: 60 buyers check out 1 to 3 units each, the 30 orders placed
    before are expired by an admin, and an admin removes 40 units by their payloads, in 4 batches. The counter
    ends equal to the variant's available units, was never below zero when sampled meanwhile (the CHECK
    refuses it anyway), and every unit is accounted for."""
    units = 120
    product = await seed_product(sessions, units=units, goods=goods)
    rng = random.Random(18)
    wanted = {n: rng.randint(1, 3) for n in range(90)}
    async with sessions.begin() as s:
        variant = await variant_of(s, product)
        await s.execute(insert(User), [{"telegram_id": 30_000 + n, "language": "en"} for n in wanted])
        ids = dict((await s.execute(select(User.telegram_id, User.id))).tuples().all())
        await s.execute(
            insert(CartItem),
            [
                {"user_id": ids[30_000 + n], "product_id": product, "variant_id": variant, "quantity": q}
                for n, q in wanted.items()
            ],
        )
    rates = rate_service_from_settings(settings)

    async def checkout(n: int) -> int | None:
        async with sessions() as s:
            try:
                result = await CheckoutService(s, settings, wallet, rates).checkout(ids[30_000 + n], Chain.btc)
            except OutOfStock:
                return None
            return result.order_id

    first = [o for o in await asyncio.gather(*(checkout(n) for n in range(30))) if o is not None]
    assert first

    async def expire(order_id: int) -> None:
        async with sessions() as s:
            await AdminOrdersService(s, settings, goods).expire(order_id, 1)

    async def remove(batch: int) -> None:
        digests = " ".join(goods.digest(f"KEY-Editor Pro 1y-{n:04d}") for n in range(80 + batch * 10, 90 + batch * 10))
        async with sessions() as s:
            await AdminStockService(s, goods).remove_digital("admin:1", product, digests)

    lowest: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            lowest.append(min(await counters(sessions, variant)))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(
        *(checkout(n) for n in range(30, 90)), *(expire(o) for o in first), *(remove(b) for b in range(4))
    )
    done.set()
    await sampler
    assert lowest and min(lowest) >= 0
    async with sessions() as s:
        assert await StockRepo(s).miscounted() == []
        rows = dict(
            (
                await s.execute(
                    select(StockUnit.status, func.count())
                    .where(StockUnit.variant_id == variant)
                    .group_by(StockUnit.status)
                )
            )
            .tuples()
            .all()
        )
    assert (await counters(sessions, variant))[0] == rows.get(StockStatus.available, 0)
    removed = units - sum(rows.values())
    assert 0 <= removed <= 40  # a unit a checkout held meanwhile stays
    assert rows.get(StockStatus.reserved, 0) > 0


async def test_a_checkout_moves_the_counters_last(sessions, settings, wallet, engine) -> None:
    """Every checkout of a variant waits on PostgreSQL for its counter row until the transaction that moved it
    commits: a checkout of two variants writes everything else first (order, audit, notice, cart, index,
    invoice), then holds the units, each variant's counter moved right after its units, in ascending id."""
    product = await seed_product(sessions, units=0)
    async with sessions.begin() as s:
        a = await variant_of(s, product)
        b = (await VariantRepo(s).add(product, "B", 500)).id
        stock = StockRepo(s)
        await stock.add_units(product, a, [None] * 2, utcnow())
        await stock.add_units(product, b, [None] * 2, utcnow())
        user = User(telegram_id=40_000, language="en")
        s.add(user)
        await s.flush()
        await s.execute(
            insert(CartItem),
            [{"user_id": user.id, "product_id": product, "variant_id": v, "quantity": 1} for v in (b, a)],
        )
    statements: list[str] = []
    moved: list[int] = []  # the variants whose counter moved, in order
    # On PostgreSQL one statement holds a variant's units, books them and moves its counter (StockRepo._hold_booked)
    booked = engine.dialect.name == "postgresql"
    hold = (
        ["WITH candidates AS"]
        if booked
        else ["WITH candidates AS", "INSERT INTO reservations", "UPDATE product_variants SET"]
    )
    counter_moves = hold[-1]

    def record(_conn: object, _cursor: object, sql: str, _params: Any, context: Any, *_: object) -> None:
        statements.append(" ".join(sql.split()[:3]))
        if statements[-1] == counter_moves:
            moved.append(context.compiled_parameters[0]["variant"])

    rates = rate_service_from_settings(settings)
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with sessions() as s:
            await CheckoutService(s, settings, wallet, rates).checkout(user.id, Chain.btc)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        await rates.close()
    writes = [sql for sql in statements if not sql.startswith(("SELECT", "BEGIN"))]
    assert writes[-2 * len(hold) :] == hold * 2  # WITH: the units
    assert "INSERT INTO invoices" in writes[: -2 * len(hold)]
    assert moved == [a, b]
    assert await counters(sessions, a, b) == [1, 1]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_checkout_and_an_expiry_over_the_same_variants_do_not_deadlock(sessions, settings, engine) -> None:
    """PostgreSQL. An expiry giving back units of variants A and B, and a checkout holding B before A (its cart's
    order): each takes the counters' row locks in ascending variant id, so neither waits for the other while
    holding what the other needs. The interleaving that would deadlock is forced: a third transaction holds A's
    counter while the expiry, then the checkout, queue behind it."""
    product = await seed_product(sessions, units=0, kind=ProductKind.physical)
    until = utcnow() + timedelta(hours=1)
    async with sessions.begin() as s:
        a = await variant_of(s, product)
        b = (await VariantRepo(s).add(product, "B", 500)).id
        stock = StockRepo(s)
        await stock.add_units(product, a, [None] * 4, utcnow())
        await stock.add_units(product, b, [None] * 4, utcnow())
        expiring = await buyer_order(s, 1)
        await stock.reserve(a, 1, expiring, until)
        await stock.reserve(b, 1, expiring, until)
        checking_out = await buyer_order(s, 2)

    async def waiting() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))).scalar_one())

    async def until_waiting(n: int) -> None:
        for _ in range(500):
            if await waiting() >= n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never {n} waiting")

    async def release() -> int:
        async with sessions.begin() as s:
            return await StockRepo(s).release(expiring)

    async def hold() -> None:
        async with sessions.begin() as s:
            await OrderLifecycle(s, settings).hold_all(checking_out, [Line(b, "B", 1), Line(a, "A", 1)], until)

    blocker = create_sessionmaker(engine)()
    await blocker.begin()
    await blocker.execute(update(Variant).where(Variant.id == a).values(available_units=Variant.available_units))
    released = asyncio.create_task(release())
    await until_waiting(1)
    held = asyncio.create_task(hold())
    await until_waiting(2)
    await blocker.commit()
    await blocker.close()
    assert await asyncio.wait_for(released, 30) == 2
    await asyncio.wait_for(held, 30)
    assert await counters(sessions, a, b) == [3, 3]  # 4 added − 1 held before + 1 given back − 1 held, each


def test_migration_0014_counts_the_units_already_there(db_url: str, engine) -> None:
    """Upgrading to 0014 sets each variant's counter to its units with status available, whatever else it has
    (held, sold); downgrading drops the column and upgrading again counts anew."""

    async def seed() -> tuple[int, int, int]:
        e = create_engine(db_url)
        sessions = create_sessionmaker(e)
        editor = await seed_product(sessions, units=5, kind=ProductKind.physical)
        empty = await seed_product(sessions, name="Licence", units=0, kind=ProductKind.unlimited, category="Keys")
        async with sessions.begin() as s:
            a, c = await variant_of(s, editor), await variant_of(s, empty)
            b = (await VariantRepo(s).add(editor, "B", 500)).id
            stock = StockRepo(s)
            await stock.add_units(editor, b, [None] * 3, utcnow())
            order = await buyer_order(s, 1)
            await stock.reserve(a, 2, order, utcnow() + timedelta(hours=1))
            await stock.reserve(b, 1, order, utcnow() + timedelta(hours=1))
            await stock.sell(order, utcnow())
            await stock.reserve(a, 1, await buyer_order(s, 2), utcnow() + timedelta(hours=1))
        await e.dispose()
        return a, b, c

    async def read() -> dict[int, int]:
        e = create_engine(db_url)
        async with e.connect() as conn:
            found = dict((await conn.execute(text("SELECT id, available_units FROM product_variants"))).tuples().all())
        await e.dispose()
        return found

    a, b, c = asyncio.run(seed())
    expected = {a: 2, b: 2, c: 0}
    assert asyncio.run(read()) == expected
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0013")
    command.upgrade(cfg, "head")
    assert asyncio.run(read()) == expected
