"""Finding things through the real Dispatcher: search by name (case and umlauts), best sellers, /stock, and the
card's quantity steps bounded by what is available; search by a variant's name, and migration 0015."""

import asyncio
from datetime import timedelta

from alembic import command
from sqlalchemy import select, update
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.callbacks import (
    BestSellersCb,
    CartAction,
    CartCb,
    MenuAction,
    MenuCb,
    ProductAction,
    ProductCb,
    SearchCb,
    StockCb,
)
from models.database import alembic_config, create_engine, create_sessionmaker
from models.enums import OrderStatus, ProductKind
from models.orders import Order, OrderItem
from models.shop import Product, User, Variant
from models.types import utcnow
from repositories.stock import StockRepo
from repositories.variants import VariantRepo
from tests.shop import plain_product, seed_product, variant_of
from tests.telegram import Person, Telegram, buttons, texts


async def add_products(
    sessions: async_sessionmaker[AsyncSession], beside: int, names: list[str], units: int = 1
) -> list[int]:
    """More physical products in the subcategory of product `beside`, `units` available each."""
    async with sessions.begin() as s:
        sub = (await s.execute(select(Product.subcategory_id).where(Product.id == beside))).scalar_one()
        products = [
            plain_product(subcategory_id=sub, name=n, price_minor=500, kind=ProductKind.physical) for n in names
        ]
        s.add_all(products)
        await s.flush()
        for p in products:
            await StockRepo(s).add_units(p.id, p.variants[0].id, [None] * units, utcnow())
        return [p.id for p in products]


async def search(tg: Telegram, person: Person, text: str) -> list[str]:
    await tg.press(person, MenuCb(action=MenuAction.search))
    calls = await tg.send(person, text)
    return list(buttons(calls))


async def test_search_finds_products_in_two_categories_ignoring_case(tg: Telegram, sessions, goods) -> None:
    await seed_product(sessions, name="Editor Pro 1y", units=2, goods=goods)
    snack = await seed_product(sessions, name="PROTEIN bar", category="Food", subcategory="Snacks", units=0)
    await add_products(sessions, snack, ["Chess", "Improv night"])
    hidden = (await add_products(sessions, snack, ["Pro, retired"]))[0]
    async with sessions.begin() as s:
        await s.execute(update(Product).where(Product.id == hidden).values(is_active=False))
    ann = Person(id=301)

    calls = await tg.press(ann, MenuCb(action=MenuAction.search))
    assert texts(calls) == ["🔎 Type part of a product's name (2 to 64 characters), for example <i>pro</i>."]
    calls = await tg.send(ann, "pro")
    assert texts(calls) == ["🔎 Found for “pro”:"]
    assert list(buttons(calls)) == [
        "Editor Pro 1y · 12.50 USD · 2 left",
        "Improv night · 5.00 USD · 1 left",
        "PROTEIN bar · 12.50 USD · sold out",
        "🔎 New search",
        "⬅ Back",
    ]
    # the text was taken once: the next message is no search
    assert texts(await tg.send(ann, "chess")) == ["I did not understand that. Use the buttons below."]
    assert "Chess · 5.00 USD · 1 left" in await search(tg, ann, "  CHESS ")
    assert await search(tg, ann, "%_") == ["🔎 New search", "⬅ Back"]  # LIKE's wildcards are plain characters


async def test_umlauts_and_sharp_s_are_found_whatever_their_case(tg: Telegram, sessions, goods) -> None:
    """SQLite's lower() folds ASCII only; the folded search key makes both databases agree."""
    product = await seed_product(sessions, name="ÜBERSICHT Karte", units=1, goods=goods)
    await add_products(sessions, product, ["Straße der Sieger", "Ubersicht ohne Umlaut", "U\u0308BERALL"])
    bea = Person(id=302, language_code="de")
    found = await search(tg, bea, "über")  # composed or decomposed Ü; their order is the database's collation
    assert set(found) == {
        "U\u0308BERALL · 5.00 USD · noch 1",
        "ÜBERSICHT Karte · 12.50 USD · noch 1",
        "🔎 Neue Suche",
        "⬅ Zurück",
    }
    assert await search(tg, bea, "STRASSE") == ["Straße der Sieger · 5.00 USD · noch 1", "🔎 Neue Suche", "⬅ Zurück"]
    async with sessions.begin() as s:  # a rename through the ORM refolds
        renamed = await s.get(Product, product)
        assert renamed is not None
        renamed.name = "Öl"
    assert await search(tg, bea, "öl") == ["Öl · 12.50 USD · noch 1", "🔎 Neue Suche", "⬅ Zurück"]


async def test_search_results_page_and_a_card_leads_back_to_its_page(tg: Telegram, sessions, goods) -> None:
    first = await seed_product(sessions, name="Pro 00", units=1, goods=goods)
    await add_products(sessions, first, [f"Pro {n:02d}" for n in range(1, 10)])
    cleo = Person(id=303)
    found = await search(tg, cleo, "pro")
    assert [b for b in found if b.startswith("Pro")] == [
        f"Pro {n:02d} · " + ("12.50" if n == 0 else "5.00") + " USD · 1 left" for n in range(8)
    ]
    calls = await tg.press(cleo, SearchCb(page=1))
    page = buttons(calls)
    assert list(page) == ["Pro 08 · 5.00 USD · 1 left", "Pro 09 · 5.00 USD · 1 left", "◀", "🔎 New search", "⬅ Back"]
    calls = await tg.press(cleo, page["Pro 09 · 5.00 USD · 1 left"])
    assert buttons(calls)["⬅ Back"] == SearchCb(page=1).pack()
    calls = await tg.press(cleo, buttons(calls)["⬅ Back"])
    assert texts(calls) == ["🔎 Found for “pro”:"] and "Pro 09 · 5.00 USD · 1 left" in buttons(calls)

    await tg.send(cleo, "/start")  # forgets the search: its pages ask again
    calls = await tg.press(cleo, SearchCb(page=1))
    assert texts(calls) == [
        "🔎 Type part of a product's name (2 to 64 characters), for example <i>pro</i>.",
        "This button is out of date. Here is the current view.",
    ]


async def test_a_search_too_short_or_too_long_asks_again(tg: Telegram, sessions, goods) -> None:
    await seed_product(sessions, units=1, goods=goods)
    dan = Person(id=304)
    await tg.press(dan, MenuCb(action=MenuAction.search))
    for text in ("p", "x" * 65):
        calls = await tg.send(dan, text)
        assert texts(calls) == ["Please type 2 to 64 characters of a product's name, or go back to the menu."]
    assert "Editor Pro 1y · 12.50 USD · 1 left" in buttons(await tg.send(dan, "editor"))
    await tg.press(dan, MenuCb(action=MenuAction.search))
    calls = await tg.send(dan, "/stock")  # a command ends the wait, and is no search
    assert [t.split("\n")[0] for t in texts(calls)] == ["📦 <b>In stock</b>"]
    assert texts(await tg.send(dan, "editor")) == ["I did not understand that. Use the buttons below."]
    await tg.press(dan, MenuCb(action=MenuAction.search))
    calls = await tg.press(dan, CartCb(action=CartAction.view))  # any button ends the wait
    assert texts(calls) == ["Your cart is empty."]
    assert texts(await tg.send(dan, "editor")) == ["I did not understand that. Use the buttons below."]


async def sell(
    sessions: async_sessionmaker[AsyncSession], telegram_id: int, sold: dict[int, int], status: OrderStatus
) -> None:
    """One order of these (product id -> quantity) in `status`, straight into the database."""
    async with sessions.begin() as s:
        user = (await s.execute(select(User).where(User.telegram_id == telegram_id))).scalar_one_or_none()
        if user is None:
            user = User(telegram_id=telegram_id, language="en")
            s.add(user)
            await s.flush()
        order = Order(
            user_id=user.id, status=status, total_minor=100, fiat_currency="USD", expires_at=utcnow() + timedelta(1)
        )
        s.add(order)
        await s.flush()
        s.add_all(
            OrderItem(order_id=order.id, product_id=p, product_name="x", quantity=q, unit_price_minor=100)
            for p, q in sold.items()
        )


async def test_best_sellers_count_paid_and_shipped_units_only(tg: Telegram, sessions, goods) -> None:
    editor = await seed_product(sessions, units=2, goods=goods)
    chess, tea, mug, gone = await add_products(sessions, editor, ["Chess", "Tea", "Mug", "Gone"])
    await sell(sessions, 1, {editor: 1, tea: 1}, OrderStatus.paid)
    await sell(sessions, 2, {tea: 2, chess: 1, gone: 9}, OrderStatus.shipped)
    await sell(sessions, 3, {chess: 1}, OrderStatus.paid)
    await sell(sessions, 3, {mug: 20, editor: 5}, OrderStatus.expired)  # never sold
    await sell(sessions, 4, {mug: 20, editor: 5}, OrderStatus.awaiting_payment)  # not yet
    async with sessions.begin() as s:
        await s.execute(update(Product).where(Product.id == gone).values(is_active=False))
    eve = Person(id=305)
    calls = await tg.press(eve, MenuCb(action=MenuAction.best_sellers))
    assert texts(calls) == ["🏆 <b>Best sellers</b>"]
    assert list(buttons(calls)) == [
        "Tea · 5.00 USD · 1 left",  # 3 units
        "Chess · 5.00 USD · 1 left",  # 2 units
        "Editor Pro 1y · 12.50 USD · 2 left",  # 1 unit
        "⬅ Back",
    ]
    card = await tg.press(eve, buttons(calls)["Tea · 5.00 USD · 1 left"])
    assert buttons(card)["⬅ Back"] == BestSellersCb(page=0).pack()


async def test_best_sellers_before_anything_sold(tg: Telegram, sessions, goods) -> None:
    await seed_product(sessions, units=2, goods=goods)
    calls = await tg.press(Person(id=306), MenuCb(action=MenuAction.best_sellers))
    assert texts(calls) == ["🏆 Nothing has sold yet. Have a look around the shop!"]


async def test_stock_lists_each_product_on_sale_under_its_place(tg: Telegram, sessions, goods) -> None:
    editor = await seed_product(sessions, units=3, goods=goods)
    await add_products(sessions, editor, ["Chess"], units=0)
    hidden = (await add_products(sessions, editor, ["Hidden"]))[0]
    long_name = "Sticker " + "x" * 120
    await seed_product(sessions, name=long_name, category="Merch", subcategory="Paper", units=1, goods=goods)
    async with sessions.begin() as s:
        await s.execute(update(Product).where(Product.id == hidden).values(is_active=False))
    calls = await tg.send(Person(id=307), "/stock")
    assert texts(calls) == [
        "📦 <b>In stock</b>\n"
        "\n<b>Merch / Paper</b>\n"
        f"• {long_name[:47]}… · 12.50 USD · 1 left\n"
        "\n<b>Software / Licences</b>\n"
        "• Chess · 5.00 USD · sold out\n"
        "• Editor Pro 1y · 12.50 USD · 3 left"
    ]
    assert list(buttons(calls)) == ["⬅ Back"]


async def test_stock_pages_fit_a_message(tg: Telegram, sessions, goods) -> None:
    first = await seed_product(sessions, name="P 00", units=1, goods=goods)
    await add_products(sessions, first, [f"P {n:02d}" for n in range(1, 25)])
    fay = Person(id=308)
    calls = await tg.send(fay, "/stock")
    assert texts(calls)[0].count("• ") == 20 and list(buttons(calls)) == ["▶", "⬅ Back"]
    calls = await tg.press(fay, StockCb(page=1))
    assert texts(calls)[0].count("• ") == 5 and "• P 24 · 5.00 USD · 1 left" in texts(calls)[0]
    assert list(buttons(calls)) == ["◀", "⬅ Back"]


def steps(calls) -> list[str]:
    return [b for b in buttons(calls) if b in {"−", "+", "+5", "+10"} or b.isdigit()]


async def test_quantity_steps_are_bounded_by_what_is_available(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=12, goods=goods)
    gus = Person(id=309)
    calls = await tg.press(gus, ProductCb(action=ProductAction.view, id=product))
    assert steps(calls) == ["1", "+", "+5", "+10"]
    calls = await tg.press(gus, buttons(calls)["+10"])
    assert steps(calls) == ["−", "11", "+"] and "🛒 Add 11 to cart" in buttons(calls)
    calls = await tg.press(gus, buttons(calls)["+"])
    assert steps(calls) == ["−", "12"]
    calls = await tg.press(gus, ProductCb(action=ProductAction.view, id=product, qty=500))  # forged: clamped
    assert steps(calls) == ["−", "12"] and "🛒 Add 12 to cart" in buttons(calls)

    await tg.press(gus, ProductCb(action=ProductAction.add, id=product, qty=4))  # 8 more fit now
    calls = await tg.press(gus, ProductCb(action=ProductAction.view, id=product, qty=3))
    assert steps(calls) == ["−", "3", "+", "+5"]
    calls = await tg.press(gus, buttons(calls)["+5"])
    assert steps(calls) == ["−", "8"]
    calls = await tg.press(gus, ProductCb(action=ProductAction.add, id=product, qty=9))  # forged: refused
    assert "Only 12 left, and your cart would hold more." in texts(calls)


async def test_search_finds_a_product_by_the_name_of_a_variant_buyers_can_choose(tg: Telegram, sessions, goods) -> None:
    """A buyer types what they want ("premium"): the product whose variant is named so is found, as an ORM
    rename refolds it; a retired variant's name finds nothing."""
    product = await seed_product(sessions, name="Streaming", units=1, goods=goods)
    await add_products(sessions, product, ["Premium bar"])
    async with sessions.begin() as s:
        unnamed = await s.get(Variant, await variant_of(s, product))
        assert unnamed is not None
        unnamed.name = "PREMIUM Jahr"
        await VariantRepo(s).add(product, "Basis", 500)
        retired = await VariantRepo(s).add(product, "Familie", 700)
        retired.is_active = False
    bea = Person(id=303, language_code="de")
    assert [b.split(" · ")[0] for b in await search(tg, bea, "premium")] == [
        "Premium bar",
        "Streaming",
        "🔎 Neue Suche",
        "⬅ Zurück",
    ]
    assert [b.split(" · ")[0] for b in await search(tg, bea, "BASIS")] == ["Streaming", "🔎 Neue Suche", "⬅ Zurück"]
    assert await search(tg, bea, "familie") == ["🔎 Neue Suche", "⬅ Zurück"]


def test_migration_0015_folds_the_names_of_the_variants_already_there(db_url: str, engine) -> None:
    """Upgrading to 0015 writes each existing variant's folded name, so search finds them at once."""

    async def seed() -> int:
        e = create_engine(db_url)
        product = await seed_product(create_sessionmaker(e), name="Streaming", units=0)
        async with create_sessionmaker(e).begin() as s:
            variant = await VariantRepo(s).add(product, "ÖL Straße", 500)
        await e.dispose()
        return variant.id

    async def folded() -> dict[int, str]:
        e = create_engine(db_url)
        async with e.connect() as conn:
            found = dict((await conn.execute(sql("SELECT id, name_folded FROM product_variants"))).tuples().all())
        await e.dispose()
        return found

    named = asyncio.run(seed())
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0014")
    command.upgrade(cfg, "head")
    assert asyncio.run(folded()) == {named - 1: "", named: "öl strasse"}
