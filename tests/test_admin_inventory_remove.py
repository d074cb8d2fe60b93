"""Inventory both ways, through the real Dispatcher on both databases: removing chosen digital units (pasted and
uploaded), setting a physical count down and up, deleting empty nodes (and refusing nodes with held or sold
units), and `python -m bot catalog empty-stock` for the goods key rotation."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from config import ROOT
from handlers.admin.inventory import InvAction, InvCb, Node
from handlers.callbacks import OrderAction, OrderCb, ProductAction, ProductCb
from models.enums import ProductKind, StockStatus
from models.ops import AuditLog
from models.orders import OrderItem
from models.shop import CartItem, Category, Product, StockUnit, Subcategory
from models.types import utcnow
from repositories.stock import StockRepo
from services.wallet.goods import GoodsCipher
from tests.admin_double import polled_shop
from tests.admin_flow import ADMIN, alerts, cancel, pay, place
from tests.keys import WALLET_KEY
from tests.shop import seed_product, variant_of
from tests.telegram import Person, Telegram, buttons, texts

BUYER, OTHER_BUYER = Person(id=401, username="dina"), Person(id=402, username="emil")
Json = dict[str, Any]


async def scalar(sessions, stmt) -> Any:
    async with sessions() as s:
        return (await s.execute(stmt)).scalar_one()


async def stock(sessions, product_id: int) -> dict[StockStatus, int]:
    async with sessions() as s:
        rows = await s.execute(
            select(StockUnit.status, func.count()).where(StockUnit.product_id == product_id).group_by(StockUnit.status)
        )
        counts = {StockStatus(status): int(n) for status, n in rows.all()}
    return {status: counts.get(status, 0) for status in StockStatus}


async def payloads(sessions, goods: GoodsCipher, product_id: int, status: StockStatus) -> list[str]:
    async with sessions() as s:
        blobs = await s.scalars(
            select(StockUnit.payload_enc)
            .where(StockUnit.product_id == product_id, StockUnit.status == status)
            .order_by(StockUnit.id)
        )
        return [goods.open(blob, product_id) for blob in blobs if blob is not None]


async def audit(sessions) -> list[tuple[str, str, int | None, Json | None, Json | None]]:
    async with sessions() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.entity != "order").order_by(AuditLog.id))).scalars()
        return [(r.action, r.entity, r.entity_id, r.before, r.after) for r in rows]


async def catalog_rows(sessions) -> list[int]:
    """Categories, subcategories, products and stock units: to show that a refused delete changed nothing."""
    models = (Category, Subcategory, Product, StockUnit)
    return [int(await scalar(sessions, select(func.count()).select_from(model))) for model in models]


async def sell_one_hold_one(tg: Telegram, sessions, settings, product_id: int) -> None:
    """A buyer pays for the product's oldest unit (sold); another buyer's unpaid order holds the next one."""
    await pay(sessions, settings, await place(tg, sessions, BUYER, product_id))
    await place(tg, sessions, OTHER_BUYER, product_id)


async def test_chosen_digital_units_are_removed_after_a_preview_and_held_or_sold_ones_stay(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, units=6, goods=goods)  # KEY-Editor Pro 1y-0000 … -0005
    other = await seed_product(sessions, name="Chess", category="Games", subcategory="Board", units=2, goods=goods)
    await sell_one_hold_one(tg, sessions, settings, product)  # -0000 sold, -0001 held
    assert await stock(sessions, product) == {StockStatus.available: 4, StockStatus.reserved: 1, StockStatus.sold: 1}

    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    calls = await tg.press(ADMIN, buttons(calls)["➖ Remove units"])
    assert texts(calls)[0].startswith("<b>Editor Pro 1y</b>: paste the units to remove, one per line")
    sent = ["KEY-Editor Pro 1y-0000", "KEY-Editor Pro 1y-0001", "KEY-Editor Pro 1y-0002", "KEY-Editor Pro 1y-0004"]
    calls = await tg.send(ADMIN, "\n".join([*sent, "KEY-Chess-0000", "KEY-NEVER-ADDED"]))
    assert texts(calls) == [
        "<b>Editor Pro 1y</b>: 2 will be removed, 2 not found, 2 are held or sold and stay.\nRemove them?"
    ]
    assert (await stock(sessions, product))[StockStatus.available] == 4  # nothing before Confirm
    confirm = buttons(calls)["✅ Confirm"]
    calls = await tg.press(ADMIN, confirm)
    assert "Removed 2; 2 held or sold stay, 2 not found. Available now: 2." in texts(calls)
    assert texts(calls)[0].endswith("Stock: 2 available, 1 reserved, 1 sold")
    assert await payloads(sessions, goods, product, StockStatus.available) == [
        "KEY-Editor Pro 1y-0003",
        "KEY-Editor Pro 1y-0005",
    ]
    assert await payloads(sessions, goods, product, StockStatus.reserved) == ["KEY-Editor Pro 1y-0001"]
    assert await payloads(sessions, goods, product, StockStatus.sold) == ["KEY-Editor Pro 1y-0000"]
    assert await payloads(sessions, goods, other, StockStatus.available) == ["KEY-Chess-0000", "KEY-Chess-0001"]

    calls = await tg.press(ADMIN, confirm)  # pressed again: nothing more goes
    assert "This button is out of date. Here is the current view." in texts(calls)
    assert (await stock(sessions, product))[StockStatus.available] == 2
    removals = [row for row in await audit(sessions) if row[0] == "stock.remove"]
    assert removals == [
        ("stock.remove", "product", product, {"available": 4}, {"available": 2, "removed": 2, "kept": 2, "missing": 2})
    ]
    assert "KEY-" not in json.dumps(await audit(sessions))  # payloads are never audited


async def test_units_of_another_product_are_never_removed(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    other = await seed_product(sessions, name="Chess", category="Games", subcategory="Board", units=2, goods=goods)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.unstock, node=Node.product, id=other))
    calls = await tg.send(ADMIN, "KEY-Editor Pro 1y-0000\nKEY-Editor Pro 1y-0001")
    assert texts(calls) == ["<b>Chess</b>: 0 will be removed, 2 not found, 0 are held or sold and stay."]
    assert "✅ Confirm" not in buttons(calls)

    calls = await tg.press(ADMIN, InvCb(action=InvAction.unstock, node=Node.product, id=other))
    calls = await tg.send(ADMIN, "KEY-Chess-0000")
    assert "1 will be removed" in texts(calls)[0]
    # a Confirm forged for the other product finds no preview of its own: nothing is removed anywhere
    calls = await tg.press(ADMIN, InvCb(action=InvAction.confirm, node=Node.product, id=product))
    assert "This button is out of date. Here is the current view." in texts(calls)
    assert (await stock(sessions, product))[StockStatus.available] == 2
    assert (await stock(sessions, other))[StockStatus.available] == 2
    # removing from a physical product, or from one that is gone, is refused before any text is asked for
    sticker = await seed_product(sessions, name="Sticker", category="Merch", kind=ProductKind.physical, units=1)
    for forged in (sticker, 999):
        calls = await tg.press(ADMIN, InvCb(action=InvAction.unstock, node=Node.product, id=forged))
        assert "That item no longer exists or has changed. Here is the current view." in alerts(calls)
    assert await audit(sessions) == []

    # the same payload in both products: removing it from one leaves the other's
    async with sessions.begin() as s:
        for pid in (product, other):
            shared = (goods.seal("SHARED", pid), goods.digest("SHARED"))
            await StockRepo(s).add_units(pid, await variant_of(s, pid), [shared], utcnow())
    calls = await tg.press(ADMIN, InvCb(action=InvAction.unstock, node=Node.product, id=product))
    calls = await tg.press(ADMIN, buttons(await tg.send(ADMIN, "SHARED"))["✅ Confirm"])
    assert "Removed 1; 0 held or sold stay, 0 not found. Available now: 2." in texts(calls)
    assert "SHARED" not in await payloads(sessions, goods, product, StockStatus.available)
    assert "SHARED" in await payloads(sessions, goods, other, StockStatus.available)


async def test_an_uploaded_list_removes_units_and_a_bad_file_removes_nothing(container, sessions, goods) -> None:
    product = await seed_product(sessions, units=4, goods=goods)
    async with polled_shop(container) as shop:
        (view,) = await shop.say("/admin")
        for label in ("🗃 Inventory", "Software", "Licences", "Editor Pro 1y", "➖ Remove units"):
            view = await shop.press(view, label)
        rejected = await shop.upload("gone.json", b'[\n  "KEY-Editor Pro 1y-0000",\n  7\n]')
        assert rejected["text"].splitlines() == [
            "❌ Nothing was removed: 1 problem(s).",
            "line 3: must be a string",
            "Fix it and send it again, or press Cancel.",
        ]
        assert (await stock(sessions, product))[StockStatus.available] == 4
        preview = await shop.upload("gone.csv", b"note,payload\na,KEY-Editor Pro 1y-0000\nb,KEY-Editor Pro 1y-0003\n")
        assert preview["text"].startswith("Editor Pro 1y: 2 will be removed, 0 not found")
        card = await shop.press(preview, "✅ Confirm")
        assert card["text"].endswith("Stock: 2 available, 0 reserved, 0 sold")
        assert await shop.answer_text() == "Removed 2; 0 held or sold stay, 0 not found. Available now: 2."
    assert await payloads(sessions, goods, product, StockStatus.available) == [
        "KEY-Editor Pro 1y-0001",
        "KEY-Editor Pro 1y-0002",
    ]


async def test_physical_count_goes_down_and_up_and_never_touches_held_or_sold_units(
    tg: Telegram, sessions, settings
) -> None:
    product = await seed_product(sessions, name="Sticker pack", kind=ProductKind.physical, units=6)
    await sell_one_hold_one(tg, sessions, settings, product)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    calls = await tg.press(ADMIN, buttons(calls)["🔢 Set count"])
    assert texts(calls)[0] == (
        "<b>Sticker pack</b>: how many units should be available? Now 4. The 1 held by open orders and 1 sold "
        "are not part of it and stay. Send a number from 0 to 100000."
    )
    for bad in ("-1", "two", "1.5", "100001"):
        calls = await tg.send(ADMIN, bad)
        assert texts(calls) == ["Send a whole number from 0 to 100000, or press Cancel."], bad
    calls = await tg.send(ADMIN, "1")
    assert texts(calls) == ["Set the available units of <b>Sticker pack</b> from 4 to 1? The 1 held and 1 sold stay."]
    assert (await stock(sessions, product))[StockStatus.available] == 4  # nothing before Confirm
    confirm = buttons(calls)["✅ Confirm"]
    calls = await tg.press(ADMIN, confirm)
    assert "Available now: 1 (0 added, 3 removed)." in texts(calls)
    assert texts(calls)[0].endswith("Stock: 1 available, 1 reserved, 1 sold")
    calls = await tg.press(ADMIN, confirm)  # pressed twice
    assert "This button is out of date. Here is the current view." in texts(calls)

    calls = await tg.press(ADMIN, InvCb(action=InvAction.recount, node=Node.product, id=product))
    calls = await tg.send(ADMIN, "0")  # down to nothing on the shelf: the held and the sold unit stay
    calls = await tg.press(ADMIN, buttons(calls)["✅ Confirm"])
    assert await stock(sessions, product) == {StockStatus.available: 0, StockStatus.reserved: 1, StockStatus.sold: 1}
    calls = await tg.press(ADMIN, InvCb(action=InvAction.recount, node=Node.product, id=product))
    calls = await tg.send(ADMIN, "5")
    calls = await tg.press(ADMIN, buttons(calls)["✅ Confirm"])
    assert "Available now: 5 (5 added, 0 removed)." in texts(calls)
    assert await stock(sessions, product) == {StockStatus.available: 5, StockStatus.reserved: 1, StockStatus.sold: 1}
    assert [row for row in await audit(sessions) if row[0] == "stock.count"] == [
        ("stock.count", "product", product, {"available": 4}, {"available": 1, "added": 0, "removed": 3}),
        ("stock.count", "product", product, {"available": 1}, {"available": 0, "added": 0, "removed": 1}),
        ("stock.count", "product", product, {"available": 0}, {"available": 5, "added": 5, "removed": 0}),
    ]


async def test_an_empty_product_is_deleted_once_and_its_orders_keep_the_name(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=3, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    await cancel(tg, BUYER, order_id)  # the unit goes back on the shelf
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    calls = await tg.press(ADMIN, buttons(calls)["🗑 Delete"])
    assert texts(calls) == [
        "Delete the product <b>Editor Pro 1y</b> with its 3 available units? This cannot be undone; orders keep "
        "the product name."
    ]
    assert await catalog_rows(sessions) == [1, 1, 1, 3]  # nothing before the second press
    purge = buttons(calls)["🗑 Delete for good"]
    calls = await tg.press(ADMIN, purge)
    assert "Deleted." in texts(calls)
    assert texts(calls)[0].startswith("<b>Licences</b> · subcategory")  # back to its parent
    assert await catalog_rows(sessions) == [1, 1, 0, 0]
    async with sessions() as s:
        item = (await s.execute(select(OrderItem))).scalar_one()
    assert (item.product_id, item.product_name) == (None, "Editor Pro 1y")
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=order_id))
    assert "Editor Pro 1y" in texts(calls)[0]

    calls = await tg.press(ADMIN, purge)  # deleting twice
    assert "That item no longer exists or has changed. Here is the current view." in alerts(calls)
    assert [row[:3] for row in await audit(sessions)] == [("product.delete", "product", product)]
    assert (await audit(sessions))[0][3:] == (
        {"name": "Editor Pro 1y", "subcategories": 0, "products": 1},
        {"available_removed": 3},
    )


async def test_a_category_is_deleted_with_everything_under_it(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    async with sessions.begin() as s:
        category = (await s.execute(select(Category.id))).scalar_one()
        empty = Subcategory(category_id=category, name="Empty")
        s.add(empty)
    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=1))  # a cart holds it
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.category, id=category))
    calls = await tg.press(ADMIN, buttons(calls)["🗑 Delete"])
    assert texts(calls) == [
        "Delete the category <b>Software</b> with its 2 subcategories, 1 products and 2 available units? This "
        "cannot be undone; orders keep their product names."
    ]
    calls = await tg.press(ADMIN, buttons(calls)["🗑 Delete for good"])
    assert "Deleted." in texts(calls) and texts(calls)[0].startswith("🗃 <b>Inventory</b>")
    assert await catalog_rows(sessions) == [0, 0, 0, 0]
    assert await scalar(sessions, select(func.count()).select_from(CartItem)) == 0
    assert [row[:3] for row in await audit(sessions)] == [("category.delete", "category", category)]


@pytest.mark.parametrize("node", [Node.category, Node.subcategory, Node.product])
async def test_a_node_with_held_or_sold_units_is_never_deleted_and_can_be_hidden(
    tg: Telegram, sessions, settings, goods, node: Node
) -> None:
    product = await seed_product(sessions, units=4, goods=goods)
    await sell_one_hold_one(tg, sessions, settings, product)
    async with sessions() as s:
        ids = {
            Node.category: (await s.execute(select(Category.id))).scalar_one(),
            Node.subcategory: (await s.execute(select(Subcategory.id))).scalar_one(),
            Node.product: product,
        }
    before = await catalog_rows(sessions)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.delete, node=node, id=ids[node]))
    name = {Node.category: "Software", Node.subcategory: "Licences", Node.product: "Editor Pro 1y"}[node]
    assert texts(calls) == [
        f"<b>{name}</b> cannot be deleted: 1 units under it are held by open orders and 1 are sold. You can hide "
        "it from buyers instead."
    ]
    assert "🗑 Delete for good" not in buttons(calls)
    hide = buttons(calls)["🚫 Hide from buyers"]

    forged = InvCb(action=InvAction.purge, node=node, id=ids[node])  # the Delete button it never showed
    calls = await tg.press(ADMIN, forged)
    assert "Not deleted: units under it are held or sold. Nothing was changed." in alerts(calls)
    assert texts(calls)[0].startswith(f"<b>{name}</b> cannot be deleted")
    assert await catalog_rows(sessions) == before
    assert await stock(sessions, product) == {StockStatus.available: 2, StockStatus.reserved: 1, StockStatus.sold: 1}
    assert await audit(sessions) == []

    calls = await tg.press(ADMIN, hide)
    assert "Hidden from buyers." in texts(calls)
    assert [row[:3] for row in await audit(sessions)] == [(f"{node.name}.deactivate", node.name, ids[node])]


async def test_empty_stock_leaves_held_and_sold_units(tg: Telegram, sessions, settings, goods, db_url) -> None:
    """`python -m bot catalog empty-stock` on this test's database (SQLite or PostgreSQL)."""
    product = await seed_product(sessions, units=4, goods=goods)
    sticker = await seed_product(sessions, name="Sticker", category="Merch", kind=ProductKind.physical, units=3)
    await seed_product(sessions, name="Nothing", category="Empty", units=0)
    await sell_one_hold_one(tg, sessions, settings, product)

    missing = catalog_cli("empty-stock", "--product", "999", db_url=db_url)
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "error: there is no product 999\n")
    one = catalog_cli("empty-stock", "--product", str(sticker), db_url=db_url)
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines() == [
        f"Merch / Licences / Sticker (#{sticker}): removed 3, 0 held or sold stay",
        "removed 3 available unit(s) of 1 product(s); 0 held or sold unit(s) stay",
    ]
    every = catalog_cli("empty-stock", db_url=db_url)
    assert every.returncode == 0, every.stderr
    assert every.stdout.splitlines() == [
        f"Software / Licences / Editor Pro 1y (#{product}): removed 2, 2 held or sold stay",
        "removed 2 available unit(s) of 1 product(s); 2 held or sold unit(s) stay",
    ]
    assert await stock(sessions, product) == {StockStatus.available: 0, StockStatus.reserved: 1, StockStatus.sold: 1}
    assert await stock(sessions, sticker) == {StockStatus.available: 0, StockStatus.reserved: 0, StockStatus.sold: 0}
    assert [row[:3] for row in await audit(sessions)] == [
        ("stock.empty", "product", sticker),
        ("stock.empty", "product", product),
    ]
    again = catalog_cli("empty-stock", db_url=db_url)  # idempotent
    assert again.stdout.splitlines()[-1] == "removed 0 available unit(s) of 0 product(s); 2 held or sold unit(s) stay"


async def test_the_key_rotation_recipe_keeps_every_available_payload(
    tg: Telegram, sessions, settings, goods, db_url, tmp_path: Path
) -> None:
    """README: export with payloads under the old key, empty the stock, set the new key and import again."""
    product = await seed_product(sessions, units=4, goods=goods)
    await sell_one_hold_one(tg, sessions, settings, product)
    new_key, old = "rotated-goods-key-0123456789abcdef", tmp_path / "old.json"
    assert catalog_cli("export", "--with-payloads", str(old), db_url=db_url).returncode == 0
    assert catalog_cli("empty-stock", db_url=db_url).returncode == 0
    imported = catalog_cli("import", str(old), db_url=db_url, key=new_key)
    assert imported.returncode == 0, imported.stderr
    assert "2 added, 0 skipped" in imported.stdout
    again = catalog_cli("export", "--with-payloads", db_url=db_url, key=new_key)
    assert json.loads(again.stdout) == json.loads(old.read_text("utf-8"))
    assert await payloads(sessions, GoodsCipher(new_key), product, StockStatus.available) == [
        "KEY-Editor Pro 1y-0002",
        "KEY-Editor Pro 1y-0003",
    ]
    assert await stock(sessions, product) == {StockStatus.available: 2, StockStatus.reserved: 1, StockStatus.sold: 1}


def catalog_cli(*args: str, db_url: str, key: str = WALLET_KEY) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_KEY", "_XPUB", "_KEY_FILE", "_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "catalog", *args],
        cwd=ROOT,
        env={**clean, "LOG_LEVEL": "WARNING", "DATABASE_URL": db_url, "WALLET_KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
