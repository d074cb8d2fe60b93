"""How many SQL statements each update of a buyer's walk runs (issue 18): counted, not timed, so that a re-read
or a query per update does not creep back unnoticed. Transaction starts are not counted: SQLite's BEGIN goes
through the cursor, PostgreSQL's does not."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.callbacks import MenuAction, MenuCb
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons

# The most statements each step may run, for a buyer new to the shop (so /start registers them), through a
# plain product with stock and no voucher code, tier or credit in the way.
WALK = {
    "/start": 3,  # the user read, their insert, the welcome text
    "Shop": 1,  # the categories
    "Software": 2,  # the category, its subcategories
    "Licences": 2,  # the subcategory with its category, its products
    "Editor Pro 1y": 6,  # the product, its variants, their stock, the buyer's terms, the cart, the rating
    "🛒 Add 1 to cart": 6,  # the product, its variants, their stock, the upsert, the buyer's terms, the rating
    "🛒 Cart": 5,  # the lines, their stock, the code, the categories, the buyer's terms
    "💳 Checkout": 6,  # what kinds the cart holds; the quote: the lines, credit, the code, the categories, the terms
}


async def test_each_step_of_a_walk_to_the_coins_runs_few_statements(
    tg: Telegram, engine: AsyncEngine, sessions, goods
) -> None:
    await seed_product(sessions, units=3, goods=goods)
    ann = Person(id=250)
    ran: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):
            ran.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    counted: dict[str, int] = {}
    calls = await tg.send(ann, "/start")
    counted["/start"] = len(ran)
    presses = {"Shop": MenuCb(action=MenuAction.shop).pack()}
    for step in WALK:
        if step == "/start":
            continue
        data = presses.get(step) or next(d for text, d in buttons(calls).items() if text.startswith(step))
        ran.clear()
        calls = await tg.press(ann, data)
        counted[step] = len(ran)
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert "BTC" in buttons(calls)  # the walk reached the coins
    assert {step: n for step, n in counted.items() if n > WALK[step]} == {}, counted
