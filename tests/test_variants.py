"""Variants through the real Dispatcher, on SQLite and PostgreSQL: the card offers them, each has its own price and
stock, a purchase holds units of its variant only, forged variant ids change nothing, the admin manages them in
Inventory, and the catalog file round-trips them."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.admin.inventory import InvAction, InvCb, Node, VarAction, VarCb
from handlers.admin.loyalty import LoyaltyAction, LoyaltyCb
from handlers.callbacks import CartAction, CartCb, MenuAction, MenuCb, PayCb, ProductAction, ProductCb
from models.database import alembic_config, create_engine
from models.enums import Chain, ProductKind, StockStatus
from models.ops import AuditLog
from models.orders import Order, OrderItem
from models.shop import CartItem, Product, StockUnit, User, Variant
from models.types import utcnow
from repositories.stats import StatsRepo
from services.catalog_io.format import CatalogErrors
from services.catalog_io.importer import CatalogExporter, CatalogImporter, ImportSummary
from services.orders.lifecycle import OutOfStock
from services.shop.checkout import CheckoutService
from services.wallet.goods import GoodsCipher
from tests.admin_flow import ADMIN, alerts, pay
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

ALICE, BEN = Person(id=301, first_name="Alice"), Person(id=302, first_name="Ben")
REFUSED = "That option is not offered (any more). Please choose again."


def catalog() -> dict[str, Any]:
    """Editor Pro in two variants (3 monthly keys, 1 yearly), and Chess, a plain product."""
    editor = {
        "name": "Editor Pro",
        "description": "Licence key",
        "kind": "digital",
        "variants": [
            {"name": "1 month", "price": "5.00", "stock": ["M-1", "M-2", "M-3"]},
            {"name": "12 months", "price": "49.90", "stock": ["Y-1"]},
        ],
    }
    chess = {"name": "Chess", "description": "", "kind": "digital", "price": "4.00", "stock": ["C-1"]}
    return {"categories": [{"name": "Software", "subcategories": [{"name": "Licences", "products": [editor, chess]}]}]}


async def run_import(sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher, data: Any) -> ImportSummary:
    async with sessions() as s:
        return await CatalogImporter(s, goods).import_catalog(data)


async def run_export(sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher) -> dict[str, Any]:
    async with sessions() as s:
        return await CatalogExporter(s, goods).export_catalog(with_payloads=True)


async def ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Product and variant ids by name ("Editor Pro", "1 month", "12 months", "Chess", "" for Chess's variant)."""
    async with sessions() as s:
        products = dict((await s.execute(select(Product.name, Product.id))).tuples().all())
        variants = dict((await s.execute(select(Variant.name, Variant.id))).tuples().all())
    return products | variants


async def units(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[int, StockStatus], int]:
    """Stock units per (variant, status)."""
    async with sessions() as s:
        stmt = select(StockUnit.variant_id, StockUnit.status, func.count()).group_by(
            StockUnit.variant_id, StockUnit.status
        )
        return {(v, StockStatus(st)): n for v, st, n in (await s.execute(stmt)).tuples()}


async def cart_rows(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, int, int]]:
    async with sessions() as s:
        stmt = select(User.telegram_id, CartItem.variant_id, CartItem.quantity).join(User).order_by(CartItem.id)
        return [(who, variant, quantity) for who, variant, quantity in (await s.execute(stmt)).tuples()]


async def test_buying_a_variant_holds_its_stock_only_and_one_sells_out_while_the_other_is_left(
    tg: Telegram, sessions, goods, settings
) -> None:
    await run_import(sessions, goods, catalog())
    n = await ids(sessions)
    editor, month, year = n["Editor Pro"], n["1 month"], n["12 months"]
    await tg.send(ALICE, "/start")
    calls = await tg.press(ALICE, MenuCb(action=MenuAction.shop))
    calls = await tg.press(ALICE, buttons(calls)["Software"])
    calls = await tg.press(ALICE, buttons(calls)["Licences"])
    assert "Editor Pro · from 5.00 USD · 4 left" in buttons(calls)  # the lowest price, all variants' stock
    assert "Chess · 4.00 USD · 1 left" in buttons(calls)

    calls = await tg.press(ALICE, buttons(calls)["Editor Pro · from 5.00 USD · 4 left"])
    card = texts(calls)[0]
    assert "<b>Editor Pro</b>" in card and "Price: from 5.00 USD\nAvailable: 4" in card
    assert "Choose one of the options below." in card
    assert {"1 month · 5.00 USD", "12 months · 49.90 USD"} <= set(buttons(calls))
    assert not any(b.startswith("🛒 Add") for b in buttons(calls))  # nothing to add before a choice

    calls = await tg.press(ALICE, buttons(calls)["12 months · 49.90 USD"])
    assert "<b>Editor Pro · 12 months</b>" in texts(calls)[0] and "Price: 49.90 USD\nAvailable: 1" in texts(calls)[0]
    assert "✓ 12 months · 49.90 USD" in buttons(calls) and "+" not in buttons(calls)  # steps bounded by its stock
    calls = await tg.press(ALICE, buttons(calls)["1 month · 5.00 USD"])
    assert "Price: 5.00 USD\nAvailable: 3" in texts(calls)[0]
    calls = await tg.press(ALICE, buttons(calls)["+"])
    assert {"−", "2", "+"} <= set(buttons(calls)) and "+5" not in buttons(calls)
    calls = await tg.press(ALICE, buttons(calls)["🛒 Add 2 to cart"])
    assert "Added. Your cart now holds 2 of this." in texts(calls)
    calls = await tg.press(ALICE, CartCb(action=CartAction.view))
    assert "Editor Pro · 1 month: 2 × 5.00 USD = 10.00 USD" in texts(calls)[0]
    await tg.press(ALICE, PayCb(chain=Chain.btc))

    async with sessions() as s:
        order_id = (await s.execute(select(Order.id))).scalar_one()
        item = (await s.execute(select(OrderItem))).scalar_one()
    assert (item.product_name, item.variant_id, item.quantity, item.unit_price_minor) == (
        "Editor Pro · 1 month",
        month,
        2,
        500,
    )
    left = await units(sessions)
    assert (left[(month, StockStatus.reserved)], left[(month, StockStatus.available)]) == (2, 1)
    assert left[(year, StockStatus.available)] == 1 and (year, StockStatus.reserved) not in left

    # Ben takes the last yearly key: that variant is sold out, the monthly one is still offered
    await tg.send(BEN, "/start")
    calls = await tg.press(BEN, ProductCb(action=ProductAction.add, id=editor, var=year))
    assert "Added. Your cart now holds 1 of this." in texts(calls)
    await tg.press(BEN, PayCb(chain=Chain.ltc))
    calls = await tg.press(BEN, ProductCb(action=ProductAction.view, id=editor, var=year))
    assert "Available: 0" in texts(calls)[0] and "Sold out. Please check back later." in texts(calls)[0]
    assert {"✓ 12 months · sold out", "1 month · 5.00 USD"} <= set(buttons(calls))
    assert not any(b.startswith("🛒 Add") for b in buttons(calls))
    calls = await tg.press(BEN, ProductCb(action=ProductAction.add, id=editor, var=year))  # an old Add button
    assert "Only 0 left, and your cart would hold more." in alerts(calls)
    calls = await tg.press(BEN, buttons(calls)["1 month · 5.00 USD"])
    assert "Available: 1" in texts(calls)[0] and "🛒 Add 1 to cart" in buttons(calls)
    assert await cart_rows(sessions) == []

    # paid: best sellers and the admin's top products count each variant on its own
    await pay(sessions, settings, order_id)
    async with sessions() as s:
        top = await StatsRepo(s).top_products(since=datetime(2000, 1, 1, tzinfo=UTC), limit=5)
    assert top == [("Editor Pro · 1 month", 2, 1000)]


async def test_a_tier_and_a_reseller_price_apply_to_the_variant_price(tg: Telegram, sessions, goods) -> None:
    await run_import(sessions, goods, catalog())
    n = await ids(sessions)
    await tg.press(ADMIN, VarCb(action=VarAction.reseller_price, id=n["12 months"]))
    calls = await tg.send(ADMIN, "40")
    assert "Reseller price: 40.00 USD" in texts(calls)[0]
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.new_tier))
    await tg.send(ADMIN, "Starter 0 10")
    await tg.send(ALICE, "/start")
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=n["Editor Pro"], var=n["12 months"]))
    assert "Your price: <b>44.91 USD</b> (Starter tier)" in texts(calls)[0]  # 49.90 − 10 %
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=n["Editor Pro"], var=n["1 month"]))
    assert "Your price: <b>4.50 USD</b> (Starter tier)" in texts(calls)[0]
    async with sessions.begin() as s:
        user = (await s.execute(select(User).where(User.telegram_id == ALICE.id))).scalar_one()
        user.is_reseller = True
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=n["Editor Pro"], var=n["12 months"]))
    assert "Your price: <b>40.00 USD</b> (reseller price)" in texts(calls)[0]  # lower than the tier's


async def test_forged_variant_ids_are_refused_and_change_nothing(tg: Telegram, sessions, goods) -> None:
    await run_import(sessions, goods, catalog())
    n = await ids(sessions)
    editor, chess, chess_variant = n["Editor Pro"], n["Chess"], n[""]
    await tg.send(ALICE, "/start")
    before = await units(sessions)
    # another product's variant, on the card and on Add
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=editor, var=chess_variant))
    assert REFUSED in alerts(calls) and "Choose one of the options below." in texts(calls)[0]
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.add, id=editor, var=chess_variant))
    assert REFUSED in alerts(calls)
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.add, id=chess, var=n["1 month"]))
    assert REFUSED in alerts(calls)
    # no variant where the buyer must choose; one that never existed
    for forged in (0, 2**31 - 1):
        calls = await tg.press(ALICE, ProductCb(action=ProductAction.add, id=editor, var=forged))
        assert REFUSED in alerts(calls)
    assert await cart_rows(sessions) == []

    # the yearly variant goes into the cart, then the admin deletes it: the old button is refused, and
    # checkout places nothing for it
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.add, id=editor, var=n["12 months"]))
    await tg.press(ADMIN, VarCb(action=VarAction.delete, id=n["12 months"]))
    calls = await tg.press(ADMIN, VarCb(action=VarAction.purge, id=n["12 months"]))
    assert "Variant deleted." in texts(calls)
    assert await cart_rows(sessions) == []  # the line went with the variant
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.add, id=editor, var=n["12 months"]))
    assert REFUSED in alerts(calls)
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=editor, var=n["12 months"]))
    assert REFUSED in alerts(calls)
    assert "12 months · 49.90 USD" not in buttons(calls) and "<b>Editor Pro · 1 month</b>" in texts(calls)[0]
    assert await cart_rows(sessions) == []
    assert await units(sessions) == {k: v for k, v in before.items() if k[0] != n["12 months"]}
    # the admin screens of a deleted variant, and forged ones, lead back to the catalog
    for forged in (n["12 months"], 2**31 - 1):
        calls = await tg.press(ADMIN, VarCb(action=VarAction.price, id=forged))
        calls = await tg.send(ADMIN, "1")
        assert "That item no longer exists or has changed. Here is the current view." in texts(calls)
    assert await scalar_variants(sessions) == [("1 month", 500), ("", 400)]


async def scalar_variants(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, int]]:
    async with sessions() as s:
        rows = await s.execute(select(Variant.name, Variant.price_minor).order_by(Variant.id))
        return [(name, price) for name, price in rows.tuples()]


async def test_the_admin_adds_renames_reprices_stocks_and_deletes_variants(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=5, goods=goods)  # a plain product: 12.50, 5 keys
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    assert "💲 Price" in buttons(calls) and "➕ Variant" in buttons(calls)
    await tg.press(ADMIN, buttons(calls)["➕ Variant"])
    calls = await tg.send(ADMIN, "1 month 5,00")  # the plain product's price and keys become its first variant's
    assert texts(calls)[0].startswith("<b>Editor Pro 1y · 1 month</b> · variant\nPrice: 5.00 USD")
    assert texts(calls)[0].endswith("Stock: 5 available, 0 reserved, 0 sold")
    calls = await tg.press(ADMIN, buttons(calls)["⬅ Back"])
    calls = await tg.press(ADMIN, buttons(calls)["➕ Variant"])
    for bad, answer in (
        ("12months", "That does not work: send the name and the price on one line, the price last."),
        ("12 months 1.234", "That does not work: more than 2 decimals. Send it again, or press Cancel."),
        ("1 month 3", "That name is already used here. Send another, or press Cancel."),
    ):
        calls = await tg.send(ADMIN, bad)
        assert texts(calls)[0].startswith(answer.split(".")[0])
    calls = await tg.send(ADMIN, "12 months 49.90")
    assert "Stock: 0 available" in texts(calls)[0]
    calls = await tg.press(ADMIN, buttons(calls)["➕ Add stock"])
    calls = await tg.send(ADMIN, "Y-1\nY-2\nKEY-Editor Pro 1y-0000")  # the last is a monthly key already
    assert "Editor Pro 1y · 12 months" in texts(calls)[0]
    calls = await tg.press(ADMIN, buttons(calls)["✅ Confirm"])
    assert "Added 2, skipped 1 already stored. Available now: 2." in texts(calls)
    assert "• 12 months: 49.90 USD · 2 available, 0 reserved, 0 sold" in texts(calls)[0]
    assert "• 1 month: 5.00 USD · 5 available, 0 reserved, 0 sold" in texts(calls)[0]
    assert "💲 Price" not in buttons(calls)  # each variant has its own

    n = await ids(sessions)
    await tg.press(ADMIN, VarCb(action=VarAction.rename, id=n["12 months"]))
    calls = await tg.send(ADMIN, "1 year")
    assert texts(calls)[0].startswith("<b>Editor Pro 1y · 1 year</b>")
    await tg.press(ADMIN, VarCb(action=VarAction.price, id=n["12 months"]))
    calls = await tg.send(ADMIN, "45")
    assert "Price: 45.00 USD" in texts(calls)[0]

    # a held monthly key: deleting the monthly variant retires it (its other keys go), the held one stays
    await tg.send(ALICE, "/start")
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, var=n["1 month"]))
    await tg.press(ALICE, PayCb(chain=Chain.btc))
    calls = await tg.press(ADMIN, VarCb(action=VarAction.delete, id=n["1 month"]))
    assert "Delete the variant <b>1 month</b> with its 4 available units?" in texts(calls)[0]
    calls = await tg.press(ADMIN, buttons(calls)["🗑 Delete for good"])
    assert "Units of it are held or sold: it is no longer offered, and its available units were removed." in texts(
        calls
    )
    left = await units(sessions)
    assert left == {(n["1 month"], StockStatus.reserved): 1, (n["12 months"], StockStatus.available): 2}
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=product))
    assert "<b>Editor Pro 1y · 1 year</b>" in texts(calls)[0] and "Price: 45.00 USD" in texts(calls)[0]
    assert not any("month" in b for b in buttons(calls))  # one variant left: no choice to show
    calls = await tg.press(ADMIN, VarCb(action=VarAction.delete, id=n["12 months"]))
    calls = await tg.press(ADMIN, buttons(calls)["🗑 Delete for good"])
    assert "A product keeps at least one variant. Delete or hide the product instead." in alerts(calls)
    assert left == await units(sessions)

    async with sessions() as s:
        rows = (await s.execute(select(AuditLog.action, AuditLog.entity_id).order_by(AuditLog.id))).tuples().all()
    assert [a for a, _ in rows if a.startswith("variant.")] == [
        "variant.create",
        "variant.create",
        "variant.rename",
        "variant.price",
        "variant.retire",
    ]


async def test_the_catalog_file_round_trips_variants(sessions, goods) -> None:
    first = await run_import(sessions, goods, catalog())
    assert (first.products_created, first.units_added) == (2, 5)
    exported = await run_export(sessions, goods)
    products = exported["categories"][0]["subcategories"][0]["products"]
    assert products[0]["variants"] == [
        {"name": "1 month", "price": "5.00", "stock": ["M-1", "M-2", "M-3"], "available": 3},
        {"name": "12 months", "price": "49.90", "stock": ["Y-1"], "available": 1},
    ]
    assert products[0].keys() == {"name", "description", "kind", "variants"}
    assert products[1] == {
        "name": "Chess",
        "description": "",
        "price": "4.00",
        "kind": "digital",
        "stock": ["C-1"],
        "available": 1,
    }
    before = (await ids(sessions), await units(sessions))
    again = await run_import(sessions, goods, exported)
    assert (again.products_created, again.products_updated, again.units_added, again.products_unchanged) == (0, 0, 0, 2)
    assert (await ids(sessions), await units(sessions)) == before
    assert await run_export(sessions, goods) == exported

    # variants added and repriced by a file; a plain product given variants names its unnamed one
    changed = catalog()
    editor, chess = changed["categories"][0]["subcategories"][0]["products"]
    editor["variants"][1]["price"] = "44.00"
    editor["variants"].append({"name": "Lifetime", "price": "99.00", "stock": ["L-1"]})
    chess.pop("price")
    chess["variants"] = [{"name": "Basic", "price": "4.00", "stock": ["C-1"]}, {"name": "Pro", "price": "9.00"}]
    chess.pop("stock")
    summary = await run_import(sessions, goods, changed)
    assert (summary.products_updated, summary.units_added, summary.units_skipped) == (2, 1, 5)
    n = await ids(sessions)
    assert n["Basic"] == before[0][""]  # Chess's variant, named, with its key
    assert await scalar_variants(sessions) == [
        ("1 month", 500),
        ("12 months", 4400),
        ("Basic", 400),
        ("Lifetime", 9900),
        ("Pro", 900),
    ]
    # a product with named variants cannot be given as a plain one: nothing changes
    plain = catalog()
    plain["categories"][0]["subcategories"][0]["products"][0] = {"name": "Editor Pro", "kind": "digital", "price": "1"}
    with pytest.raises(CatalogErrors) as e:
        await run_import(sessions, goods, plain)
    assert "list them under variants" in e.value.problems[0]
    assert await ids(sessions) == n


async def test_concurrent_checkouts_of_one_variant_never_take_the_others_stock(
    tg: Telegram, sessions, goods, container
) -> None:
    """30 buyers want the last 10 yearly keys at once, each in their own session: 10 get one, none gets a monthly
    key instead, and the monthly variant's units are all still on the shelf."""
    data = catalog()
    data["categories"][0]["subcategories"][0]["products"][0]["variants"][1]["stock"] = [f"Y-{i}" for i in range(10)]
    await run_import(sessions, goods, data)
    n = await ids(sessions)
    buyers = [Person(id=5000 + i) for i in range(30)]
    for buyer in buyers:
        await tg.send(buyer, "/start")
    async with sessions.begin() as s:
        users = dict((await s.execute(select(User.telegram_id, User.id))).tuples().all())
        s.add_all(
            CartItem(user_id=users[b.id], product_id=n["Editor Pro"], variant_id=n["12 months"], quantity=1)
            for b in buyers
        )

    async def checkout(buyer: Person) -> bool:
        async with sessions() as s:
            service = CheckoutService(s, container.settings, container.wallet, container.rates, goods)
            try:
                await service.checkout(users[buyer.id], Chain.btc)
            except OutOfStock:  # this buyer lost the race
                return False
            return True

    won = await asyncio.gather(*(checkout(b) for b in buyers))
    assert sum(won) == 10
    left = await units(sessions)
    assert left[(n["12 months"], StockStatus.reserved)] == 10 and (n["12 months"], StockStatus.available) not in left
    assert left == {
        (n["12 months"], StockStatus.reserved): 10,
        (n["1 month"], StockStatus.available): 3,
        (n[""], StockStatus.available): 1,  # Chess
    }


def test_products_before_variants_migrate_to_one_unnamed_variant_and_back(db_url: str, engine) -> None:
    """Migration 0013 on a database written by the 0012 schema: each product's price, reseller price, stock
    units, cart lines and order lines move to its one unnamed variant, whatever its kind (a file product's
    documents, an unlimited product with its payload and no units, a channel product's seats and its chat), and
    the columns 0009-0012 added stay (warranty, limit, payload, chat); the downgrade puts the prices back and
    refuses while a product has named variants (`engine`: an empty database on PostgreSQL too)."""
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0012")
    now = utcnow()
    seed = [
        "DELETE FROM order_items",
        "DELETE FROM orders",
        "DELETE FROM cart_items",
        "DELETE FROM stock_units",
        "DELETE FROM product_payloads",
        "DELETE FROM access_chats",
        "DELETE FROM products",
        "DELETE FROM subcategories",
        "DELETE FROM categories",
        "DELETE FROM users",
        "INSERT INTO users (id, telegram_id, language, timeout_count, is_banned, blocked_bot, created_at,"
        " is_reseller, tier_notified_minor) VALUES (1, 77, 'en', 0, false, false, :now, false, 0)",
        "INSERT INTO categories (id, name, is_active) VALUES (1, 'Software', true)",
        "INSERT INTO subcategories (id, category_id, name, is_active) VALUES (1, 1, 'Licences', true)",
        "INSERT INTO products (id, subcategory_id, name, name_folded, description, price_minor, reseller_price_minor,"
        " kind, is_active) VALUES (1, 1, 'Editor', 'editor', '', 1250, 999, 'digital', true),"
        " (2, 1, 'Chess', 'chess', '', 400, NULL, 'digital', true)",
        "INSERT INTO products (id, subcategory_id, name, name_folded, description, price_minor, reseller_price_minor,"
        " kind, is_active, warranty_days, limit_units, limit_days) VALUES"
        " (3, 1, 'Manual', 'manual', '', 700, NULL, 'file', true, 30, NULL, NULL),"
        " (4, 1, 'Licence', 'licence', '', 900, 800, 'unlimited', true, NULL, 2, 30),"
        " (5, 1, 'Club', 'club', '', 300, NULL, 'channel', true, NULL, NULL, NULL)",
        "INSERT INTO product_payloads (product_id, is_file, payload_enc, updated_at) VALUES (4, false, :blob, :now)",
        "INSERT INTO access_chats (product_id, chat_id, title, days, set_at) VALUES (5, -100123, 'Club', 30, :now)",
        "INSERT INTO stock_units (id, product_id, status, created_at, payload_enc) VALUES"
        " (1, 1, 'available', :now, NULL), (2, 1, 'sold', :now, NULL), (3, 2, 'available', :now, NULL),"
        " (4, 3, 'available', :now, :blob), (5, 5, 'available', :now, NULL)",
        "INSERT INTO cart_items (id, user_id, product_id, quantity, added_at) VALUES (1, 1, 2, 1, :now)",
        "INSERT INTO orders (id, user_id, status, total_minor, fiat_currency, created_at, expires_at, grace_used,"
        " subtotal_minor, reseller_discount_minor, tier_discount_minor, voucher_discount_minor, coin_fee_minor,"
        " shipping_minor) VALUES (1, 1, 'paid', 1250, 'USD', :now, :now, false, 1250, 0, 0, 0, 0, 0)",
        "INSERT INTO order_items (id, order_id, product_id, product_name, quantity, unit_price_minor)"
        " VALUES (1, 1, 1, 'Editor', 1, 1250)",
    ]

    async def run(statements: list[str]) -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            for statement in statements:
                params = {"now": now, "blob": b"sealed"} if ":blob" in statement else {"now": now}
                await conn.execute(text(statement), params if ":now" in statement else {})
        await engine.dispose()

    async def read(sql: str) -> list[tuple[Any, ...]]:
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            found = [tuple(r) for r in (await conn.execute(text(sql))).all()]
        await engine.dispose()
        return found

    asyncio.run(run(seed))
    command.upgrade(cfg, "head")
    variants = asyncio.run(read("SELECT id, product_id, name, price_minor, reseller_price_minor FROM product_variants"))
    by_product = {product: variant for variant, product, *_ in variants}
    assert sorted(tuple(v[1:]) for v in variants) == [
        (1, "", 1250, 999),
        (2, "", 400, None),
        (3, "", 700, None),
        (4, "", 900, 800),
        (5, "", 300, None),
    ]
    assert asyncio.run(read("SELECT id, variant_id FROM stock_units ORDER BY id")) == [
        (1, by_product[1]),
        (2, by_product[1]),
        (3, by_product[2]),
        (4, by_product[3]),
        (5, by_product[5]),
    ]
    terms = "SELECT id, kind, warranty_days, limit_units, limit_days FROM products ORDER BY id"
    kept = [(3, "file", 30, None, None), (4, "unlimited", None, 2, 30), (5, "channel", None, None, None)]
    assert asyncio.run(read(terms))[2:] == kept
    assert asyncio.run(read("SELECT product_id FROM product_payloads")) == [(4,)]
    assert asyncio.run(read("SELECT product_id, days FROM access_chats")) == [(5, 30)]
    assert asyncio.run(read("SELECT variant_id FROM cart_items")) == [(by_product[2],)]
    assert asyncio.run(read("SELECT variant_id, product_name FROM order_items")) == [(by_product[1], "Editor")]

    asyncio.run(run(["UPDATE product_variants SET name = 'Pro' WHERE product_id = 1"]))
    with pytest.raises(RuntimeError, match="named variants"):
        command.downgrade(cfg, "0012")
    asyncio.run(run(["UPDATE product_variants SET name = '' WHERE product_id = 1"]))
    command.downgrade(cfg, "0012")
    assert asyncio.run(read("SELECT id, price_minor, reseller_price_minor FROM products ORDER BY id")) == [
        (1, 1250, 999),
        (2, 400, None),
        (3, 700, None),
        (4, 900, 800),
        (5, 300, None),
    ]
    assert asyncio.run(read(terms))[2:] == kept
    command.upgrade(cfg, "head")


async def test_a_physical_variant_gets_its_own_units_and_count(tg: Telegram, sessions) -> None:
    product = await seed_product(sessions, name="Sticker", kind=ProductKind.physical, units=3)
    await tg.press(ADMIN, VarCb(action=VarAction.new, id=product))
    await tg.send(ADMIN, "Red 2")
    await tg.press(ADMIN, VarCb(action=VarAction.new, id=product))
    calls = await tg.send(ADMIN, "Blue 2.50")
    calls = await tg.press(ADMIN, buttons(calls)["➕ Add stock"])
    assert texts(calls) == ["<b>Sticker · Blue</b>: how many units to add? (1 to 100000)"]
    calls = await tg.send(ADMIN, "5")
    calls = await tg.press(ADMIN, buttons(calls)["✅ Confirm"])
    assert "Added 5, skipped 0 already stored. Available now: 5." in texts(calls)
    n = await ids(sessions)
    calls = await tg.press(ADMIN, VarCb(action=VarAction.view, id=n["Blue"]))
    calls = await tg.press(ADMIN, buttons(calls)["🔢 Set count"])
    calls = await tg.send(ADMIN, "2")
    assert "Set the available units of <b>Sticker · Blue</b> from 5 to 2?" in texts(calls)[0]
    calls = await tg.press(ADMIN, buttons(calls)["✅ Confirm"])
    assert "Available now: 2 (0 added, 3 removed)." in texts(calls)
    assert await units(sessions) == {(n["Red"], StockStatus.available): 3, (n["Blue"], StockStatus.available): 2}
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    assert "Price: from 2.00 USD" in texts(calls)[0]
    assert "🔢 Set count" not in buttons(calls) and "➕ Add stock" not in buttons(calls)  # per variant only
