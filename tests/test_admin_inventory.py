"""Admin inventory through the real Dispatcher: the catalog dialogs, stock uploads (1,000 lines over the
HTTP Bot API double, all or nothing), physical quantities, and the audit trail."""

import dataclasses
import json
from typing import Any

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from sqlalchemy import func, select

from bot.factory import create_bot, create_dispatcher
from handlers.admin.inventory import InvAction, InvCb, Node
from handlers.admin.menu import AdminCb, AdminSection
from models.enums import ProductKind, StockStatus
from models.ops import AuditLog
from models.shop import Category, Product, StockUnit, Variant
from services.catalog_io.stock_files import StockFileErrors, read_stock
from tests.admin_double import polled_shop
from tests.conftest import ADMIN_ID
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

ADMIN = Person(id=ADMIN_ID, first_name="Ada", username="ada")
Json = dict[str, Any]


async def scalar(sessions, stmt) -> Any:
    async with sessions() as s:
        return (await s.execute(stmt)).scalar_one()


async def units(sessions, product_id: int, status: StockStatus = StockStatus.available) -> int:
    return int(
        await scalar(
            sessions, select(func.count()).where(StockUnit.product_id == product_id, StockUnit.status == status)
        )
    )


async def audit(sessions) -> list[tuple[str, str, str, int | None, Json | None, Json | None]]:
    async with sessions() as s:
        rows = (await s.execute(select(AuditLog).order_by(AuditLog.id))).scalars()
        return [(r.actor, r.action, r.entity, r.entity_id, r.before, r.after) for r in rows]


async def test_create_rename_price_and_hide_through_dialogs(tg: Telegram, sessions) -> None:
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.inventory))
    assert texts(calls)[0].startswith("🗃 <b>Inventory</b>")
    calls = await tg.press(ADMIN, buttons(calls)["➕ New category"])
    assert texts(calls) == ["Send the name of the new category."]
    calls = await tg.send(ADMIN, "  Games  ")
    assert texts(calls)[0].startswith("<b>Games</b> · category · active")
    category = await scalar(sessions, select(Category.id).where(Category.name == "Games"))
    calls = await tg.press(ADMIN, buttons(calls)["➕ New subcategory"])
    calls = await tg.send(ADMIN, "Keys")
    calls = await tg.press(ADMIN, buttons(calls)["➕ New product"])
    await tg.send(ADMIN, "Chess <Pro>")
    await tg.send(ADMIN, "Opening book & engine")
    calls = await tg.send(ADMIN, "12,505")
    assert texts(calls) == ["That does not work: more than 2 decimals. Send it again, or press Cancel."]
    calls = await tg.send(ADMIN, "12,50")
    assert texts(calls) == [
        "What kind of product is it? Digital: each unit a text (a key); physical: each unit shipped; file: each unit"
        " a document; unlimited: one text or document that every buyer gets, never sold out. Channel or group"
        " access: a seat in one of your private chats for some days."
    ]
    calls = await tg.press(ADMIN, buttons(calls)["digital"])
    assert "Product created." in texts(calls)
    card = texts(calls)[0]
    assert card.startswith("<b>Chess &lt;Pro&gt;</b> · digital · active\nPrice: 12.50 USD\nOpening book &amp; engine")
    assert card.endswith("Stock: 0 available, 0 reserved, 0 sold")
    product = await scalar(sessions, select(Product).where(Product.name == "Chess <Pro>"))
    price = await scalar(sessions, select(Variant.price_minor).where(Variant.product_id == product.id))
    assert (price, product.kind, product.description) == (
        1250,
        ProductKind.digital,
        "Opening book & engine",
    )

    calls = await tg.press(ADMIN, buttons(calls)["💲 Price"])
    calls = await tg.send(ADMIN, "9.99")
    assert "Price: 9.99 USD" in texts(calls)[0]
    calls = await tg.press(ADMIN, buttons(calls)["✏ Rename"])
    calls = await tg.send(ADMIN, "Chess Pro")
    assert texts(calls)[0].startswith("<b>Chess Pro</b>")
    calls = await tg.press(ADMIN, buttons(calls)["🚫 Hide from buyers"])
    assert "Hidden from buyers." in texts(calls) and "· 🚫 hidden" in texts(calls)[0]
    calls = await tg.press(ADMIN, buttons(calls)["✅ Show to buyers"])
    assert "Shown to buyers again." in texts(calls)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.category, id=category))
    calls = await tg.press(ADMIN, buttons(calls)["🚫 Hide from buyers"])
    assert "🚫 hidden" in texts(calls)[0]

    actor = f"admin:{ADMIN_ID}"
    assert [(a, e) for _, a, e, *_ in await audit(sessions)] == [
        ("category.create", "category"),
        ("subcategory.create", "subcategory"),
        ("product.create", "product"),
        ("product.price", "product"),
        ("product.rename", "product"),
        ("product.deactivate", "product"),
        ("product.activate", "product"),
        ("category.deactivate", "category"),
    ]
    rows = await audit(sessions)
    assert all(r[0] == actor for r in rows)
    assert rows[3][4:] == ({"price_minor": 1250}, {"price_minor": 999})
    assert rows[4][3] == product.id and rows[4][4:] == ({"name": "Chess <Pro>"}, {"name": "Chess Pro"})


async def test_dialogs_never_trap_the_admin_and_names_stay_unique(tg: Telegram, sessions) -> None:
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.inventory))
    await tg.press(ADMIN, buttons(calls)["➕ New category"])
    calls = await tg.send(ADMIN, "/admin")
    assert texts(calls) == ["🛠 Admin panel"]
    calls = await tg.send(ADMIN, "Stray text")
    assert texts(calls) == ["I did not understand that. Use the buttons below."]
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.inventory))
    calls = await tg.press(ADMIN, buttons(calls)["➕ New category"])
    await tg.send(ADMIN, "/start")
    await tg.send(ADMIN, "Stray again")
    assert await scalar(sessions, select(func.count()).select_from(Category)) == 0

    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.inventory))
    calls = await tg.press(ADMIN, buttons(calls)["➕ New category"])
    await tg.send(ADMIN, "Games")
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.inventory))
    calls = await tg.press(ADMIN, buttons(calls)["➕ New category"])
    calls = await tg.send(ADMIN, "Games")
    assert texts(calls) == ["That name is already used here. Send another, or press Cancel."]
    calls = await tg.send(ADMIN, "x" * 129)
    assert texts(calls) == ["That does not work: longer than 128 characters. Send it again, or press Cancel."]
    calls = await tg.press(ADMIN, buttons(calls)["✖ Cancel"])
    assert texts(calls)[0].startswith("🗃 <b>Inventory</b>") and "Games" in buttons(calls)
    await tg.send(ADMIN, "Films")
    assert await scalar(sessions, select(func.count()).select_from(Category)) == 1
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.subcategory, id=999))
    assert texts(calls)[-1] == "That item no longer exists or has changed. Here is the current view."
    assert texts(calls)[0].startswith("🗃 <b>Inventory</b>")


async def test_physical_quantity_and_stock_summary(tg: Telegram, sessions) -> None:
    product = await seed_product(sessions, name="Sticker pack", units=3, kind=ProductKind.physical)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    assert texts(calls)[0].endswith("Stock: 3 available, 0 reserved, 0 sold")
    calls = await tg.press(ADMIN, buttons(calls)["➕ Add stock"])
    assert texts(calls)[0].startswith("<b>Sticker pack</b>: how many units to add?")
    calls = await tg.send(ADMIN, "0")
    assert texts(calls) == ["Send a whole number from 1 to 100000, or press Cancel."]
    calls = await tg.send(ADMIN, "7")
    assert texts(calls) == ["Add 7 units to <b>Sticker pack</b>?"]
    confirm = buttons(calls)["✅ Confirm"]
    calls = await tg.press(ADMIN, confirm)
    assert "Added 7, skipped 0 already stored. Available now: 10." in texts(calls)
    assert texts(calls)[0].endswith("Stock: 10 available, 0 reserved, 0 sold")
    calls = await tg.press(ADMIN, confirm)  # pressed again: nothing is added twice
    assert "This button is out of date. Here is the current view." in texts(calls)
    assert await units(sessions, product) == 10
    assert (await audit(sessions))[-1][1:] == (
        "stock.add",
        "product",
        product,
        {"available": 3},
        {"available": 10, "added": 7, "skipped": 0},
    )


async def test_a_thousand_uploaded_lines_are_stored_sealed_and_a_bad_file_imports_nothing(
    container, sessions, goods
) -> None:
    product = await seed_product(sessions, units=2, goods=goods)  # KEY-Editor Pro 1y-0000 and -0001
    lines = [f"KEY-{n:04d}-ABCDEFGHIJKL" for n in range(998)] + ["KEY-Editor Pro 1y-0001", "  KEY-LAST  "]
    async with polled_shop(container) as shop:
        (view,) = await shop.say("/admin")
        for label in ("🗃 Inventory", "Software", "Licences", "Editor Pro 1y", "➕ Add stock"):
            view = await shop.press(view, label)
        assert view["text"].startswith("Editor Pro 1y: paste the units, one per line, or upload")
        preview = await shop.upload("keys.txt", ("\r\n".join(lines) + "\r\n\r\n").encode())
        assert preview["text"] == "1000 units for Editor Pro 1y: 999 new, 1 already stored (skipped). Add them?"
        assert await units(sessions, product) == 2  # nothing before Confirm
        card = await shop.press(preview, "✅ Confirm")
        assert card["text"].endswith("Stock: 1001 available, 0 reserved, 0 sold")

        bad = [*lines[:3], "KEY-NEW-1", "KEY-0001-ABCDEFGHIJKL", "x" * 4001, "KEY-NEW-2"]
        view = await shop.press(card, "➕ Add stock")
        rejected = await shop.upload("more.txt", "\n".join(bad).encode())
        assert rejected["text"] == (
            "❌ Nothing was imported: 2 problem(s).\nline 5: same payload as line 2\n"
            "line 6: longer than 4000 characters\nFix it and send it again, or press Cancel."
        )
        rejected = await shop.upload("more.csv", b'note,payload\na,KEY-NEW-1\nb,"KEY-NEW-2\nsecond line"\nKEY-X\n')
        assert rejected["text"].splitlines()[1] == "line 5: no value in the payload column"
        rejected = await shop.upload("more.json", b'[\n  "KEY-NEW-1",\n  5,\n  "KEY-NEW-2"\n]')
        assert rejected["text"].splitlines()[1] == "line 3: must be a string"
        rejected = await shop.upload("keys.zip", b"PK\x03\x04")
        assert rejected["text"].splitlines()[1] == "keys.zip: not a .txt, .csv or .json file"
        assert await units(sessions, product) == 1001

        preview = await shop.upload("more.json", b'["KEY-NEW-1", "KEY-0001-ABCDEFGHIJKL", " spaced "]')
        assert preview["text"] == "3 units for Editor Pro 1y: 2 new, 1 already stored (skipped). Add them?"
        card = await shop.press(preview, "✅ Confirm")
        assert card["text"].endswith("Stock: 1003 available, 0 reserved, 0 sold")
        assert await shop.answer_text() == "Added 2, skipped 1 already stored. Available now: 1003."

    async with sessions() as s:
        stored = (
            await s.execute(
                select(StockUnit.payload_enc, StockUnit.payload_digest)
                .where(StockUnit.product_id == product)
                .order_by(StockUnit.id)
            )
        ).all()
    plain = [goods.open(blob, product) for blob, _ in stored]
    assert plain[2:] == [*lines[:998], "KEY-LAST", "KEY-NEW-1", " spaced "]
    assert all(digest == goods.digest(p) for p, (_, digest) in zip(plain, stored, strict=True))
    assert not any(b"KEY-" in blob for blob, _ in stored)
    assert [r[1] for r in await audit(sessions)] == ["stock.add", "stock.add"]
    assert json.dumps(await audit(sessions)).count("KEY-") == 0  # payloads are never audited


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("a.txt", b"ok\n\xff\xfe\n", "line 2: not UTF-8 text"),
        ("a.txt", b"\n \n", "no units in it"),
        ("a.csv", b"one,two\n", "line 1: 2 columns; put one unit per row, or head a column `payload`"),
        ("a.json", b'{"stock": []}', "line 1: must be a JSON array of strings"),
        ("a.json", b'[\n"a",\n"b"\n"c"]', "line 4: expected , or ] after an item"),
        ("a.json", b'["a", ""]', "line 1: must not be empty"),
        ("a.txt", b"A\nnul\x00byte\n", "line 2: contains a NUL character or a lone surrogate"),
    ],
)
def test_bad_stock_files_name_the_line(name: str, raw: bytes, problem: str) -> None:
    with pytest.raises(StockFileErrors) as caught:
        read_stock(raw, name)
    assert caught.value.problems == [problem]


def test_stock_files_in_each_format() -> None:
    assert read_stock(b"a\r\n b \n\n") == ["a", "b"]
    assert read_stock(b"\xef\xbb\xbfk1\nk2", "K.TXT") == ["k1", "k2"]
    assert read_stock(b'k1\n"k,2"\n', "s.csv") == ["k1", "k,2"]
    assert read_stock(b'Payload\n"multi\nline"\n', "s.csv") == ["multi\nline"]
    assert read_stock(b' ["k1", "k2" ] ', "s.json") == ["k1", "k2"]


async def test_digital_stock_without_a_goods_key_is_refused(sessions, goods, container) -> None:
    keyless = dataclasses.replace(container, goods=None)
    tg = Telegram(
        dp=create_dispatcher(keyless, MemoryStorage()),
        bot=create_bot(keyless.settings, RecordingSession()),
        session=RecordingSession(),
    )
    tg.bot.session = tg.session
    product = await seed_product(sessions, units=0, goods=goods)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.stock, node=Node.product, id=product))
    assert "paste the units" in texts(calls)[0]
    calls = await tg.send(ADMIN, "KEY-1")
    assert texts(calls) == ["Digital stock needs GOODS_KEY or WALLET_KEY in the settings; nothing was imported."]
    assert await units(sessions, product) == 0
