"""How many SQL statements each update of a buyer's walk runs (issue 18): counted, not timed, so that a re-read
or a query per update does not creep back unnoticed. Transaction starts are not counted: SQLite's BEGIN goes
through the cursor, PostgreSQL's does not."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, insert, literal_column
from sqlalchemy.dialects import registry
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import ORMExecuteState, Session

from handlers.callbacks import MenuAction, MenuCb
from models.enums import Chain
from models.orders import DerivationCounter
from models.shop import CartItem, User
from repositories import cart, users, wallet
from repositories.base import Dialect, insert_in, insert_on_conflict
from services.payments.rates import rate_service_from_settings
from services.shop.checkout import CheckoutService
from tests.shop import seed_product, variant_of
from tests.telegram import Person, Telegram, buttons

# The most statements each step may run, for a buyer new to the shop (so /start registers them), through a
# plain product with stock and no voucher code, tier or credit in the way.
WALK = {
    "/start": 3,  # the user read, their insert, the welcome text
    "Shop": 1,  # the categories
    "Software": 2,  # the category, its subcategories
    "Licences": 2,  # the subcategory with its category, its products
    # the shelf (CatalogRepo.shelf): the product, its variants and their stock, the cart, the rating, the terms
    "Editor Pro 1y": 1,
    "🛒 Add 1 to cart": 2,  # the shelf, the upsert
    "🛒 Cart": 1,  # the lines with their stock, categories, code, the buyer's terms (CartRepo.to_price_for_buyer)
    "💳 Checkout": 1,  # the quote: the same one statement, with the buyer's credit
}


async def walk(tg: Telegram, person: Person, after_each: Callable[[str], None]) -> None:
    """/start, then the WALK's buttons up to the coins; `after_each(step)` once each step's update is handled."""
    calls = await tg.send(person, "/start")
    after_each("/start")
    presses = {"Shop": MenuCb(action=MenuAction.shop).pack()}
    for step in WALK:
        if step == "/start":
            continue
        data = presses.get(step) or next(d for text, d in buttons(calls).items() if text.startswith(step))
        calls = await tg.press(person, data)
        after_each(step)
    assert "BTC" in buttons(calls)  # the walk reached the coins


async def test_each_step_of_a_walk_to_the_coins_runs_few_statements(
    tg: Telegram, engine: AsyncEngine, sessions, goods
) -> None:
    await seed_product(sessions, units=3, goods=goods)
    ran: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):
            ran.append(statement)

    counted: dict[str, int] = {}

    def step_done(step: str) -> None:
        counted[step] = len(ran)
        ran.clear()

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    await walk(tg, Person(id=250), step_done)
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert {step: n for step, n in counted.items() if n > WALK[step]} == {}, counted


# The most statements a checkout of one line runs (no code, credit or address), past the gap limit's first
# indices: the buyer's row, the cart with their open order and terms (CartRepo.to_check_out), the order, its
# items, the audit row, the admins' notice, the cart's lines, the derivation index with the last paid one, the
# invoice, and the hold (on SQLite three statements: the units, their reservations, the counter).
CHECKOUT = {"sqlite": 12, "postgresql": 10}


async def test_a_checkout_runs_few_statements(engine: AsyncEngine, sessions, settings, wallet) -> None:
    product = await seed_product(sessions, units=3)
    async with sessions.begin() as s:
        buyer = User(telegram_id=41_000, language="en")
        s.add(buyer)
        await s.flush()
        line = {"user_id": buyer.id, "product_id": product, "variant_id": await variant_of(s, product), "quantity": 1}
        await s.execute(insert(CartItem).values(line))
        await s.execute(insert(DerivationCounter).values(chain=Chain.btc, next_index=100))  # GAP_LIMIT_WARN is 15
    ran: list[str] = []
    expanded: list[str] = []  # statements SQLAlchemy rewrote for this execution: a list given to `in_`

    def count(_conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool) -> None:
        if not statement.startswith("BEGIN"):
            ran.append(statement)
        compiled = getattr(context, "compiled", None)
        if compiled is not None and any(b.expanding for b in compiled.binds.values()):
            expanded.append(statement)

    rates = rate_service_from_settings(settings)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with sessions() as s:
            assert not (await CheckoutService(s, settings, wallet, rates).checkout(buyer.id, Chain.btc)).existing
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        await rates.close()
    assert len(ran) <= CHECKOUT[engine.dialect.name], ran
    assert expanded == []  # each is written into the SQL text on every execution: see repositories.orders


async def test_a_second_walk_runs_the_statements_the_first_one_built(tg: Telegram, sessions, goods) -> None:
    """The walk's statements are built once (repositories.base): a second buyer's walk executes the very statement
    objects the first one did, so SQLAlchemy reuses their memoized cache keys instead of building them again."""
    await seed_product(sessions, units=3, goods=goods)
    executed: list[Any] = []  # Executable, each with a cache key or None

    def record(state: ORMExecuteState) -> None:
        executed.append(state.statement)

    event.listen(Session, "do_orm_execute", record)
    try:
        await walk(tg, Person(id=250), lambda _: None)
        first = {id(stmt): stmt for stmt in executed}  # kept alive, so no id is reused
        ran_first = len(executed)
        executed.clear()
        await walk(tg, Person(id=251), lambda _: None)
    finally:
        event.remove(Session, "do_orm_execute", record)
    assert len(executed) == ran_first > 0  # the second walk ran as far as the first, statement for statement
    # Every one has a cache key, so it is compiled once: the new buyer's insert and the cart's upsert too, whose
    # ON CONFLICT would make them uncacheable in SQLAlchemy 2.0 (repositories.base.insert_on_conflict)
    assert [str(stmt) for stmt in executed if stmt._generate_cache_key() is None] == []
    # An ORM INSERT runs as a copy SQLAlchemy annotates on every call; it compiles once all the same (same key)
    copies = [stmt for stmt in executed if id(stmt) not in first]
    assert [str(stmt) for stmt in copies if "dml_strategy" not in stmt._annotations] == []
    first_keys = {stmt._generate_cache_key().key for stmt in first.values()}
    assert [str(stmt) for stmt in copies if stmt._generate_cache_key().key not in first_keys] == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    ("built_once", "table", "own", "columns"),
    [
        (
            cart._add,
            CartItem.__table__,
            lambda insert: insert.on_conflict_do_update(
                index_elements=["user_id", "variant_id"],
                set_={"quantity": CartItem.quantity + insert.excluded.quantity},
            ).returning(CartItem.quantity),
            ["user_id", "product_id", "variant_id", "quantity"],
        ),
        (
            users._insert_if_missing,
            User,
            lambda insert: (
                insert.values(timeout_count=0, is_banned=False, blocked_bot=False)
                .on_conflict_do_nothing(index_elements=["telegram_id"])
                .returning(User)
            ),
            ["telegram_id", "username", "language"],
        ),
        (
            wallet._take_index,
            DerivationCounter.__table__,
            lambda insert: insert.on_conflict_do_update(
                index_elements=["chain"],
                set_={"next_index": DerivationCounter.next_index + literal_column("1")},  # a bound 1 is refused
            ).returning(DerivationCounter.next_index, literal_column(wallet._LAST_PAID_OF_ROW)),
            ["chain", "next_index"],
        ),
    ],
)
def test_an_insert_on_conflict_built_once_is_the_dialects_own_sql(
    dialect: Dialect, built_once: Any, table: Any, own: Any, columns: list[str]
) -> None:
    """insert_on_conflict gives these statements a cache key and must not change their SQL."""
    compiler = registry.load(dialect)()
    expected = str(own(insert_in(dialect, table)).compile(dialect=compiler, column_keys=columns))
    assert str(built_once(dialect).compile(dialect=compiler, column_keys=columns)) == expected
    assert "ON CONFLICT" in expected
    assert built_once(dialect)._generate_cache_key() is not None


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_an_on_conflict_clause_that_binds_a_value_is_refused(dialect: Dialect) -> None:
    """Its text would carry no value for the parameter: insert_on_conflict must refuse it, not lose the value."""
    with pytest.raises(ValueError, match="binds nothing"):
        insert_on_conflict(
            dialect,
            CartItem.__table__,  # type: ignore[arg-type]
            lambda insert: insert.on_conflict_do_update(index_elements=["user_id", "variant_id"], set_={"quantity": 5}),
        )
