"""The buyer's path through the real Dispatcher: catalog, cart, checkout, invoice, cancel, my orders."""

import asyncio
import re
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendPhoto
from sqlalchemy import event, func, select, update

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import ROOT
from handlers.callbacks import (
    CartAction,
    CartCb,
    CatalogCb,
    CatalogLevel,
    MenuAction,
    MenuCb,
    OrderAction,
    OrderCb,
    PayCb,
    ProductAction,
    ProductCb,
)
from models.enums import Chain, OrderStatus, ProductKind, StockStatus
from models.ops import AuditLog
from models.orders import Invoice, Order, Reservation
from models.shop import CartItem, Category, Product, StockUnit, Subcategory, User
from services.money import amount_due
from tests.keys import BTC_ZPUB, ETH_XPUB, LTC_ZPUB
from tests.recording import RecordingSession
from tests.shop import plain_product, seed_product
from tests.telegram import Person, Telegram, buttons, texts

EXPECTED_DUE = {Chain.btc: 41_667, Chain.ltc: 31_250_000, Chain.eth: 8_333_333_333_333_334, Chain.sol: 166_666_667}


async def count(sessions, stmt) -> int:
    async with sessions() as s:
        return int((await s.execute(stmt)).scalar_one())


async def buy_two(tg: Telegram, person: Person, product_id: int) -> list[Any]:
    """/start → Shop → category → subcategory → product → + → add 2 → cart → checkout."""
    await tg.send(person, "/start")
    calls = await tg.press(person, MenuCb(action=MenuAction.shop))
    calls = await tg.press(person, buttons(calls)["Software"])
    calls = await tg.press(person, buttons(calls)["Licences"])
    listing = buttons(calls)
    label = next(name for name in listing if name.startswith("Editor Pro 1y"))
    assert re.fullmatch(r"Editor Pro 1y · 12\.50 USD · [1-9][0-9]* left", label), label  # price and stock
    calls = await tg.press(person, listing[label])
    assert "Price: 12.50 USD" in texts(calls)[0]
    calls = await tg.press(person, buttons(calls)["+"])
    calls = await tg.press(person, buttons(calls)["🛒 Add 2 to cart"])
    assert "Added. Your cart now holds 2 of this." in texts(calls)
    calls = await tg.press(person, buttons(calls)["🛒 Cart"])
    assert "Editor Pro 1y: 2 × 12.50 USD = 25.00 USD" in texts(calls)[0]
    return await tg.press(person, buttons(calls)["💳 Checkout"])


@pytest.mark.parametrize("chain", list(Chain))
async def test_walk_from_start_to_invoice(tg: Telegram, sessions, goods, chain: Chain) -> None:
    product = await seed_product(sessions, units=5, goods=goods)
    alice = Person(id=201)
    calls = await buy_two(tg, alice, product)
    assert set(buttons(calls)) == {"BTC", "LTC", "ETH", "SOL", "⬅ Back"}
    calls = await tg.press(alice, buttons(calls)[chain.upper()])

    photo = next(c for c in calls if isinstance(c, SendPhoto))
    async with sessions() as s:
        invoice = (await s.execute(select(Invoice))).scalar_one()
    assert invoice.amount_due == EXPECTED_DUE[chain] == amount_due(chain, Decimal("25.00"), invoice.rate)
    assert invoice.rate_source == "fixed"
    assert f"<code>{invoice.address}</code>" in (photo.caption or "")
    assert set(buttons(calls)) == {"🔄 I've paid, check now", "✖ Cancel order", "🏠 Main menu"}
    derived = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "wallet",
            "derive",
            "--chain",
            chain.value,
            "--index",
            str(invoice.derivation_index),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={
            "BTC_XPUB": BTC_ZPUB,
            "LTC_XPUB": LTC_ZPUB,
            "ETH_XPUB": ETH_XPUB,
            "SOL_KEY_FILE": str(tg_settings_sol(tg)),
            "WALLET_KEY": tg.dp["settings"].wallet_key.get_secret_value(),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert derived.stdout.strip() == invoice.address
    assert await count(sessions, select(func.count()).select_from(Reservation)) == 2
    assert await count(sessions, select(func.count()).select_from(CartItem)) == 0


def tg_settings_sol(tg: Telegram):
    return tg.dp["settings"].sol_key_path


async def test_pagination_shows_arrows_only_where_there_is_a_page(tg: Telegram, sessions) -> None:
    for n in range(10):  # buyers see a category only with something on sale in it
        await seed_product(sessions, category=f"Category {n:02d}", units=0)
    bob = Person(id=202)
    calls = await tg.press(bob, MenuCb(action=MenuAction.shop))
    first = buttons(calls)
    assert len([b for b in first if b.startswith("Category")]) == 8 and "▶" in first and "◀" not in first
    calls = await tg.press(bob, first["▶"])
    second = buttons(calls)
    assert list(second) == ["Category 08", "Category 09", "◀", "⬅ Back"]


async def test_short_stock_reserves_nothing_and_keeps_the_cart(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=3, goods=goods)
    carol, dave = Person(id=203), Person(id=204)
    await buy_two(tg, carol, product)
    await buy_two(tg, dave, product)
    calls = await tg.press(carol, PayCb(chain=Chain.btc))
    assert any(isinstance(c, SendPhoto) for c in calls)
    calls = await tg.press(dave, PayCb(chain=Chain.btc))
    assert texts(calls)[0].startswith(
        "Not enough stock, nothing was reserved and your cart is unchanged:\nEditor Pro 1y: 1 left"
    )
    assert await count(sessions, select(func.count()).select_from(Order)) == 1
    assert await count(sessions, select(func.count()).select_from(Reservation)) == 2
    assert await count(sessions, select(func.sum(CartItem.quantity))) == 2  # Dave's cart as it was


async def test_second_checkout_shows_the_open_invoice_and_cancel_releases_stock(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=4, goods=goods)
    erin = Person(id=205)
    await buy_two(tg, erin, product)
    await tg.press(erin, PayCb(chain=Chain.ltc))
    await tg.press(erin, MenuCb(action=MenuAction.shop))
    calls = await tg.press(erin, PayCb(chain=Chain.eth))  # a new checkout while one is unpaid
    assert "You already have an unpaid order. Pay or cancel it first:" in texts(calls)
    assert "LTC" in (next(c for c in calls if isinstance(c, SendPhoto)).caption or "")
    assert await count(sessions, select(func.count()).select_from(Order)) == 1

    order_id = await count(sessions, select(Order.id))
    calls = await tg.press(erin, OrderCb(action=OrderAction.cancel, id=order_id))
    assert texts(calls)[0].startswith(f"Cancel order #{order_id}?")  # asks first: nothing changed yet
    assert await count(sessions, select(func.count()).select_from(Reservation)) == 2
    calls = await tg.press(erin, buttons(calls)["✖ Yes, cancel the order"])
    assert f"Order #{order_id} is cancelled. Its items are back in your cart, as far as they are still in stock." in (
        texts(calls)
    )
    assert await count(sessions, select(func.count()).where(StockUnit.status == StockStatus.available)) == 4
    assert await count(sessions, select(func.count()).select_from(Reservation)) == 0
    calls = await tg.press(erin, OrderCb(action=OrderAction.cancel, id=order_id))
    assert texts(calls) == ["This order can no longer be cancelled."]

    async with sessions() as s:
        audit = (await s.execute(select(AuditLog.actor, AuditLog.action))).all()
    assert audit == [(f"buyer:{erin.id}", "order.place"), (f"buyer:{erin.id}", "order.cancel")]


async def test_a_checkout_with_lines_in_the_cart_while_an_order_is_unpaid_shows_that_order(
    tg: Telegram, sessions, goods
) -> None:
    """The open order is read in the cart's statement (CartRepo.to_check_out) when the cart has lines again."""
    product = await seed_product(sessions, units=4, goods=goods)
    frank = Person(id=206)
    await buy_two(tg, frank, product)
    await tg.press(frank, PayCb(chain=Chain.ltc))
    calls = await tg.press(frank, MenuCb(action=MenuAction.shop))
    for label in ("Software", "Licences", "Editor Pro 1y", "🛒 Add 1 to cart"):
        calls = await tg.press(frank, next(data for text, data in buttons(calls).items() if text.startswith(label)))
    assert "Added. Your cart now holds 1 of this." in texts(calls)
    calls = await tg.press(frank, PayCb(chain=Chain.eth))
    assert "You already have an unpaid order. Pay or cancel it first:" in texts(calls)
    assert "LTC" in (next(c for c in calls if isinstance(c, SendPhoto)).caption or "")
    assert await count(sessions, select(func.count()).select_from(Order)) == 1
    assert await count(sessions, select(func.sum(CartItem.quantity))) == 1  # the cart as it was


async def test_paid_order_cannot_be_cancelled_and_shows_goods(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    frank = Person(id=206)
    await buy_two(tg, frank, product)
    await tg.press(frank, PayCb(chain=Chain.btc))
    order_id = await count(sessions, select(Order.id))
    async with sessions.begin() as s:  # what the observer does on confirmation
        await s.execute(update(Order).values(status=OrderStatus.paid))
        await s.execute(update(StockUnit).values(status=StockStatus.sold))
    calls = await tg.press(frank, OrderCb(action=OrderAction.cancel, id=order_id))
    assert texts(calls) == ["This order can no longer be cancelled."]
    calls = await tg.press(frank, OrderCb(action=OrderAction.view, id=order_id))
    assert "<code>KEY-Editor Pro 1y-0000</code>" in texts(calls)[0]


async def test_another_users_order_looks_exactly_like_a_missing_one(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    owner, mallory = Person(id=207), Person(id=208)
    await buy_two(tg, owner, product)
    await tg.press(owner, PayCb(chain=Chain.btc))
    order_id = await count(sessions, select(Order.id))
    for action in OrderAction:
        theirs = texts(await tg.press(mallory, OrderCb(action=action, id=order_id)))
        missing = texts(await tg.press(mallory, OrderCb(action=action, id=order_id + 999)))
        assert theirs == missing, action
        assert not any(str(order_id) in t or "Editor" in t for t in theirs), theirs
    async with sessions() as s:
        assert (await s.execute(select(Order.status))).scalar_one() is OrderStatus.awaiting_payment


async def test_stale_buttons_get_an_alert_and_a_fresh_view(tg: Telegram, sessions, goods) -> None:
    grace = Person(id=209)
    await tg.send(grace, "/start")
    for stale in (
        ProductCb(action=ProductAction.view, id=999),
        CatalogCb(level=CatalogLevel.products, id=999),
        CartCb(action=CartAction.remove, item=999),
        ProductCb(action=ProductAction.add, id=999),
    ):
        calls = await tg.press(grace, stale)
        assert any(
            t in texts(calls)
            for t in ("This button is out of date. Here is the current view.", "This product is no longer sold.")
        ), stale
        assert buttons(calls)


async def test_timeout_limit_refuses_checkout_and_a_ban_refuses_everything(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=5, goods=goods)
    heidi, ivan = Person(id=210), Person(id=211)
    await buy_two(tg, heidi, product)
    await buy_two(tg, ivan, product)
    async with sessions.begin() as s:
        await s.execute(update(User).where(User.telegram_id == heidi.id).values(timeout_count=3))
        await s.execute(update(User).where(User.telegram_id == ivan.id).values(is_banned=True))
    calls = await tg.press(heidi, PayCb(chain=Chain.btc))
    assert texts(calls) == [
        "You let too many orders expire unpaid, so checkout is blocked. Please contact support to unblock it."
    ]
    calls = await tg.press(ivan, PayCb(chain=Chain.btc))
    assert texts(calls) == ["This account is banned from the shop."]  # the ban answers before any handler
    assert await count(sessions, select(func.count()).select_from(Order)) == 0
    assert await count(sessions, select(func.count()).select_from(Reservation)) == 0


async def test_browsing_does_not_wait_for_a_writer(tg: Telegram, sessions, goods) -> None:
    """A long write (an admin's catalog import, an observer cycle) must not hold up buyers who only look.
    On SQLite every write starts with BEGIN IMMEDIATE; reads start deferred and read the WAL snapshot."""
    product = await seed_product(sessions, units=3, goods=goods)
    dora = Person(id=230)
    await tg.send(dora, "/start")
    async with sessions() as writer, writer.begin():
        await writer.execute(update(Category).values(name="Software (renaming)"))  # holds the write lock
        browse = [
            MenuCb(action=MenuAction.shop),
            ProductCb(action=ProductAction.view, id=product, qty=1),
            MenuCb(action=MenuAction.cart),
            MenuCb(action=MenuAction.orders),
        ]
        seen = [texts(await asyncio.wait_for(tg.press(dora, data), timeout=10)) for data in browse]
    card = "<b>Editor Pro 1y</b>\nOne-year licence key\n\nPrice: 12.50 USD\nAvailable: 3"
    assert seen == [["Choose a category:"], [card], ["Your cart is empty."], ["You have no orders yet."]]


async def test_names_with_html_characters_reach_the_buyer_escaped(tg: Telegram, sessions, goods) -> None:
    """Messages are HTML: a raw "<" in a name makes Telegram refuse the whole message ("can't parse entities")."""
    product = await seed_product(
        sessions, name="Chess <Pro> & more", category="Games & Co", subcategory="Board <games>", units=1, goods=goods
    )
    eve = Person(id=231, first_name="<Eve>")
    assert texts(await tg.send(eve, "/start"))[0].startswith("Welcome to the shop, &lt;Eve&gt;!")
    calls = await tg.press(eve, CatalogCb(level=CatalogLevel.subcategories, id=await category_id(sessions)))
    assert texts(calls) == ["Games &amp; Co: choose a subcategory:"]
    calls = await tg.press(eve, buttons(calls)["Board <games>"])  # button labels are plain text
    assert texts(calls) == ["Board &lt;games&gt;: choose a product:"]
    calls = await tg.press(eve, ProductCb(action=ProductAction.view, id=product, qty=1))
    assert texts(calls)[0].startswith("<b>Chess &lt;Pro&gt; &amp; more</b>\n")
    await tg.press(eve, ProductCb(action=ProductAction.add, id=product, qty=1))
    calls = await tg.press(eve, MenuCb(action=MenuAction.cart))
    assert "Chess &lt;Pro&gt; &amp; more: 1 × 12.50 USD = 12.50 USD" in texts(calls)[0]


async def category_id(sessions) -> int:
    async with sessions() as s:
        return int((await s.execute(select(Category.id))).scalar_one())


async def test_a_hidden_category_stops_sales_of_everything_under_it(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=3, goods=goods)
    erin = Person(id=232)
    await buy_two(tg, erin, product)  # two in the cart, then the admin hides the whole category
    async with sessions.begin() as s:
        await s.execute(update(Category).values(is_active=False))
    calls = await tg.press(erin, PayCb(chain=Chain.btc))
    assert texts(calls)[0].startswith(
        "Not enough stock, nothing was reserved and your cart is unchanged:\nEditor Pro 1y: 0 left"
    )
    calls = await tg.press(erin, ProductCb(action=ProductAction.view, id=product, qty=1))
    assert "This product is no longer sold." in texts(calls)[0] and "🛒 Add 1 to cart" not in buttons(calls)
    calls = await tg.press(erin, ProductCb(action=ProductAction.add, id=product, qty=1))
    assert texts(calls)[-1] == "This product is no longer sold."  # the add press is refused
    assert await count(sessions, select(func.count()).select_from(Order)) == 0
    assert await count(sessions, select(func.count()).select_from(Reservation)) == 0
    assert await count(sessions, select(func.sum(CartItem.quantity))) == 2


async def test_buyers_see_only_what_is_on_sale_and_lists_show_price_and_stock(tg: Telegram, sessions, goods) -> None:
    editor = await seed_product(sessions, units=3, goods=goods)
    async with sessions.begin() as s:
        licences = (await s.execute(select(Product.subcategory_id).where(Product.id == editor))).scalar_one()
        software = (await s.execute(select(Category.id))).scalar_one()
        s.add(plain_product(subcategory_id=licences, name="Chess", price_minor=400, kind=ProductKind.digital))
        s.add(
            plain_product(
                subcategory_id=licences, name="Retired", price_minor=100, kind=ProductKind.digital, is_active=False
            )
        )
        s.add(Subcategory(category_id=software, name="Empty for now"))
        hidden = Subcategory(category_id=software, name="Hidden", is_active=False)
        s.add_all([hidden, Category(name="Empty category")])
        await s.flush()
        s.add(
            plain_product(
                subcategory_id=hidden.id, name="In a hidden subcategory", price_minor=100, kind=ProductKind.digital
            )
        )
    await seed_product(sessions, name="Only retired", category="Retired things", units=2, goods=goods)
    async with sessions.begin() as s:
        await s.execute(update(Product).where(Product.name == "Only retired").values(is_active=False))

    fay = Person(id=233)
    calls = await tg.press(fay, MenuCb(action=MenuAction.shop))
    assert list(buttons(calls)) == ["Software", "⬅ Back"]
    calls = await tg.press(fay, buttons(calls)["Software"])
    assert list(buttons(calls)) == ["Licences", "⬅ Back"]
    calls = await tg.press(fay, buttons(calls)["Licences"])
    assert texts(calls) == ["Licences: choose a product:"]
    assert list(buttons(calls)) == ["Chess · 4.00 USD · sold out", "Editor Pro 1y · 12.50 USD · 3 left", "⬅ Back"]

    gerd = Person(id=234, language_code="de")
    calls = await tg.press(gerd, CatalogCb(level=CatalogLevel.products, id=licences))
    assert list(buttons(calls))[:2] == ["Chess · 4.00 USD · ausverkauft", "Editor Pro 1y · 12.50 USD · noch 3"]
    calls = await tg.press(
        fay, CatalogCb(level=CatalogLevel.subcategories, id=await category_named(sessions, "Empty category"))
    )
    assert texts(calls) == ["Empty category: choose a subcategory:"] and list(buttons(calls)) == ["⬅ Back"]


async def category_named(sessions, name: str) -> int:
    async with sessions() as s:
        return int((await s.execute(select(Category.id).where(Category.name == name))).scalar_one())


async def test_a_product_page_is_one_query_however_many_products(tg: Telegram, sessions, engine, goods) -> None:
    """Price and stock are counted in the page's query, not once per product."""
    editor = await seed_product(sessions, units=2, goods=goods)
    async with sessions() as s:
        licences = (await s.execute(select(Product.subcategory_id).where(Product.id == editor))).scalar_one()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    hana = Person(id=235)
    await tg.send(hana, "/start")
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await tg.press(hana, CatalogCb(level=CatalogLevel.products, id=licences))
        one = len(statements)
        async with sessions.begin() as s:
            s.add_all(
                plain_product(subcategory_id=licences, name=f"P{n}", price_minor=100, kind=ProductKind.physical)
                for n in range(7)
            )
        statements.clear()
        calls = await tg.press(hana, CatalogCb(level=CatalogLevel.products, id=licences))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len([b for b in buttons(calls) if " USD · " in b]) == 8
    assert len(statements) == one
    # the stock is each variant's counter, read in the page's one query; no statement counts unit rows
    assert sum("available_units" in s for s in statements) == 1
    assert sum("stock_units" in s for s in statements) == 0


@pytest.mark.parametrize("coins", [True, False], ids=["coins", "no coins"])
async def test_the_checkout_button_shows_what_comes_first(container: Container, sessions, goods, coins: bool) -> None:
    """💳 Checkout on an empty cart (an old button) alerts and shows the cart; a shop that takes no coin says so
    whatever the cart holds; a cart with something physical is asked where to ship before any price; a digital
    one goes straight to its price and the coins."""
    if not coins:
        container = replace(container, wallet=replace(container.wallet, keys={}, sol=None))
    session = RecordingSession()
    tg = Telegram(create_dispatcher(container, MemoryStorage()), create_bot(container.settings, session), session)
    editor = await seed_product(sessions, units=5, goods=goods)
    mug = await seed_product(sessions, name="Mug", units=5, kind=ProductKind.physical, category="Kitchen")
    kim = Person(id=212)
    await tg.send(kim, "/start")
    checkout = CartCb(action=CartAction.checkout)
    calls = await tg.press(kim, checkout)
    assert texts(calls) == ["Your cart is empty.", "Your cart is empty."]  # the cart shown, and the alert
    no_coins = ["Payments are not set up yet. Please contact support."]
    await tg.press(kim, ProductCb(action=ProductAction.add, id=editor))
    calls = await tg.press(kim, checkout)
    assert texts(calls) == (["Total 12.50 USD. Pay with:"] if coins else no_coins)
    await tg.press(kim, ProductCb(action=ProductAction.add, id=mug))
    calls = await tg.press(kim, checkout)
    if coins:
        assert texts(calls)[0].startswith("📦 <b>Where should we send it?</b>"), texts(calls)
    else:
        assert texts(calls) == no_coins
