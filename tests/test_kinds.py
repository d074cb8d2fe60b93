"""Product kinds through the real Dispatcher on both databases: an unlimited product sold to 1,000 buyers at once
never blocks and never holds a unit; a file product's document arrives with the bytes the admin uploaded;
warranty and "Report a problem"; the per-buyer limit at the card, the cart and checkout; and what the admin
may send as a payload."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiogram.methods import GetFile, SendDocument, SendMessage, TelegramMethod
from aiogram.types import BufferedInputFile
from sqlalchemy import func, insert, select, update

from handlers.admin.inventory import InvAction, InvCb, KindCb, Node
from handlers.callbacks import CartAction, CartCb, OrderAction, OrderCb, PayCb, ProductAction, ProductCb
from models.enums import Chain, OutboxStatus, ProductKind
from models.ops import AuditLog, OutboxMessage
from models.orders import Invoice, Order, Reservation
from models.shop import CartItem, Product, ProductPayload, StockUnit, User
from models.types import utcnow
from services.admin.payloads import AdminPayloadService
from services.catalog_io.format import CatalogErrors
from services.catalog_io.importer import CatalogExporter, CatalogImporter
from services.payments.rates import rate_service_from_settings
from services.shop.checkout import CheckoutService
from tests.admin_flow import ADMIN, alerts, one, outbox_sender, pay, place, rows, sent_to
from tests.conftest import ADMIN_ID
from tests.shop import seed_product, variant_of
from tests.telegram import Person, Telegram, buttons, texts

BUYER = Person(id=701, username="mia")
DE_BUYER = Person(id=702, username="otto", language_code="de")
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 300 + b"\n%%EOF"  # binary, and several download chunks long


async def document(tg: Telegram, person: Person, file_id: str, data: bytes, name: str, size: int | None = None) -> Any:
    """The person sends `data` as a file: Telegram keeps it under `file_id` and says how large it is."""
    fields = tg.session.upload(file_id, data)
    fields.update(file_name=name, mime_type="application/pdf")
    if size is not None:  # what Telegram says, whatever was kept
        fields["file_size"] = size
    return await tg.send_content(person, document=fields)


async def with_payload(sessions, goods, product_id: int, text: str) -> None:
    async with sessions() as s:
        await AdminPayloadService(s, goods).set_text("admin:1", product_id, text)


def documents_to(calls: list[TelegramMethod[Any]], chat_id: int) -> list[BufferedInputFile]:
    return [
        c.document
        for c in calls
        if isinstance(c, SendDocument) and c.chat_id == chat_id and isinstance(c.document, BufferedInputFile)
    ]


# Unlimited


async def test_1000_concurrent_checkouts_of_an_unlimited_product_never_block_and_hold_nothing(
    tg: Telegram, sessions, settings, wallet, goods
) -> None:
    product = await seed_product(sessions, name="Course", kind=ProductKind.unlimited, units=0)
    await with_payload(sessions, goods, product, "https://example.com/course?key=ALL")
    buyers = 1000
    async with sessions.begin() as s:
        await s.execute(insert(User), [{"telegram_id": 20_000 + n, "language": "en"} for n in range(buyers)])
        ids = dict((await s.execute(select(User.telegram_id, User.id))).tuples().all())
        variant = await variant_of(s, product)
        await s.execute(
            insert(CartItem),
            [
                {"user_id": ids[20_000 + n], "product_id": product, "variant_id": variant, "quantity": 1}
                for n in range(buyers)
            ],
        )
    rates, chains = rate_service_from_settings(settings), list(Chain)

    async def checkout(n: int) -> int:
        async with sessions() as s:
            return (await CheckoutService(s, settings, wallet, rates).checkout(ids[20_000 + n], chains[n % 4])).order_id

    orders = await asyncio.gather(*(checkout(n) for n in range(buyers)))
    assert len(set(orders)) == buyers  # every one of them got an order: nothing ran out, nothing was refused
    # And one more, through the buttons; it is paid and delivered like any other order.
    order_id = await place(tg, sessions, BUYER, product)
    assert await one(sessions, select(func.count()).select_from(Order)) == buyers + 1
    assert await one(sessions, select(func.count()).select_from(StockUnit)) == 0  # never a unit to hold
    assert await one(sessions, select(func.count()).select_from(Reservation)) == 0
    indices = await rows(sessions, select(Invoice.chain, Invoice.derivation_index))
    assert len(set(indices)) == len(indices) == buyers + 1  # no address taken twice
    card = await tg.press(BUYER, ProductCb(action=ProductAction.view, id=product))
    assert "Available: always" in texts(card)[0]
    async with sessions.begin() as s:  # the 1,001 "new order" alerts are not what this test reads
        await s.execute(update(OutboxMessage).values(status=OutboxStatus.sent))
    await pay(sessions, settings, order_id)
    before = len(tg.session.calls)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    delivered = sent_to(tg.session.calls[before:], BUYER.id)
    assert any("<code>https://example.com/course?key=ALL</code>" in t for t in delivered)


async def test_an_unlimited_product_without_its_payload_is_sold_out(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, name="Course", kind=ProductKind.unlimited, units=0)
    calls = await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product))
    assert "Only 0 left, and your cart would hold more." in alerts(calls)
    await with_payload(sessions, goods, product, "the text")
    calls = await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=10))
    assert "Added. Your cart now holds 10 of this." in texts(calls)


# File


async def test_a_file_product_arrives_as_the_document_the_admin_uploaded(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, name="Report 2026", kind=ProductKind.file, units=0)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    calls = await tg.press(ADMIN, buttons(calls)["📎 Add files"])
    assert texts(calls)[0].startswith("Send a document, as a file (at most 20 MB).")
    calls = await document(tg, ADMIN, "pdf-1", PDF, "report.pdf")
    assert [c.file_id for c in calls if isinstance(c, GetFile)] == ["pdf-1"]  # downloaded once, at upload
    assert texts(calls) == ["Added report.pdf: 1 available. Send the next one, or Cancel."]
    calls = await document(tg, ADMIN, "pdf-1-again", PDF, "copy.pdf")
    assert texts(calls) == ["copy.pdf is already one of this product's units; nothing added. 1 available."]
    blob = await one(sessions, select(StockUnit.payload_enc).where(StockUnit.product_id == product))
    assert PDF[:64] not in blob and b"report.pdf" not in blob  # sealed at rest, its name too

    order_id = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, order_id)
    before = len(tg.session.calls)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    (sent,) = documents_to(tg.session.calls[before:], BUYER.id)
    assert (sent.filename, sent.data) == ("report.pdf", PDF)  # the very bytes uploaded
    assert any("📎 report.pdf" in t for t in sent_to(tg.session.calls[before:], BUYER.id))
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=order_id))  # My orders sends it again
    (again,) = documents_to(calls, BUYER.id)
    assert again.data == PDF


async def test_a_document_too_large_or_anything_but_a_document_is_refused_and_changes_nothing(
    tg: Telegram, sessions
) -> None:
    product = await seed_product(sessions, name="Report 2026", kind=ProductKind.file, units=0)
    await tg.press(ADMIN, InvCb(action=InvAction.payload, node=Node.product, id=product))
    calls = await document(tg, ADMIN, "big", b"x", "huge.pdf", size=21 * 1024 * 1024)
    assert texts(calls) == [
        "This file is too large: at most 20 MB (bots cannot download more from Telegram)."
        " Send a smaller one, or Cancel."
    ]
    assert not [c for c in calls if isinstance(c, GetFile)]  # refused from what Telegram says, never downloaded
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9, "file_size": 10}]
    calls = await tg.send_content(ADMIN, photo=photo)
    assert texts(calls) == [
        "That is not a document. Send it as a file (📎 → File), not as a photo or a video, or Cancel."
    ]
    calls = await tg.send(ADMIN, "KEY-123")  # a file product takes documents only
    assert texts(calls)[0].startswith("That is not a document.")
    assert await one(sessions, select(func.count()).select_from(StockUnit)) == 0
    # A forged button for a digital product opens no upload.
    digital = await seed_product(sessions, name="Key", category="Keys", units=1)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.payload, node=Node.product, id=digital))
    assert alerts(calls) == ["That item no longer exists or has changed. Here is the current view."]
    assert await one(sessions, select(func.count()).select_from(StockUnit)) == 1  # the key's own unit only


async def test_an_unlimited_product_delivers_the_text_or_document_the_admin_set(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, name="Handbook", kind=ProductKind.unlimited, units=0)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    assert "⚠ Delivers nothing yet" in texts(calls)[0]
    await tg.press(ADMIN, buttons(calls)["📎 What it delivers"])
    calls = await tg.send(ADMIN, "  ")
    assert texts(calls) == ["The text must be 1 to 4000 characters. Send another one, or Cancel."]
    calls = await document(tg, ADMIN, "hb", PDF, "handbook.pdf")
    assert "Saved: every buyer of this product gets it." in texts(calls)
    assert "Delivers: a document" in texts(calls)[-1]
    assert await one(sessions, select(ProductPayload.is_file).where(ProductPayload.product_id == product)) is True
    for buyer in (BUYER, DE_BUYER):  # every buyer gets the same document
        order_id = await place(tg, sessions, buyer, product)
        await pay(sessions, settings, order_id)
    before = len(tg.session.calls)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    for buyer in (BUYER, DE_BUYER):
        (sent,) = documents_to(tg.session.calls[before:], buyer.id)
        assert (sent.filename, sent.data) == ("handbook.pdf", PDF)


# Warranty


async def test_warranty_shows_until_when_and_report_a_problem_alerts_admins_then_goes(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, name="Router", kind=ProductKind.digital, units=3, goods=goods)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.warranty, node=Node.product, id=product))
    calls = await tg.send(ADMIN, "thirty")
    assert texts(calls)[0].startswith("That does not work: must be a whole number of days from 1 to 3650.")
    calls = await tg.send(ADMIN, "30")
    assert "Warranty: 30 days" in texts(calls)[-1]
    orders = {}
    for buyer in (BUYER, DE_BUYER):
        orders[buyer.id] = await place(tg, sessions, buyer, product)
        await pay(sessions, settings, orders[buyer.id])
    paid_at = await one(sessions, select(Order.paid_at).where(Order.id == orders[BUYER.id]))
    until = (paid_at + timedelta(days=30)).strftime("%Y-%m-%d %H:%M")

    calls = await tg.press(DE_BUYER, OrderCb(action=OrderAction.view, id=orders[DE_BUYER.id]))
    assert "🛡 Garantie bis" in texts(calls)[0] and "🛠 Problem melden" in buttons(calls)
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=orders[BUYER.id]))
    assert f"🛡 Warranty until {until} UTC" in texts(calls)[0]
    calls = await tg.press(BUYER, buttons(calls)["🛠 Report a problem"])
    assert texts(calls)[-1].startswith(f"Order #{orders[BUYER.id]}: please describe the problem")
    claims = await one(sessions, select(func.count()).where(OutboxMessage.kind == "admin.warranty_claim"))
    assert claims == 1
    calls = await tg.send(BUYER, "It reboots every hour.")
    to_admin = [c for c in calls if isinstance(c, SendMessage) and c.chat_id == ADMIN_ID]
    assert to_admin and "It reboots every hour." in to_admin[0].text
    before = len(tg.session.calls)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    assert any(
        t.startswith(f"🛠 Warranty claim on order #{orders[BUYER.id]}")
        for t in sent_to(tg.session.calls[before:], ADMIN_ID)
    )

    # Another buyer's order, forged: looks missing, changes nothing.
    calls = await tg.press(DE_BUYER, OrderCb(action=OrderAction.problem, id=orders[BUYER.id]))
    assert alerts(calls) and claims == await one(
        sessions, select(func.count()).where(OutboxMessage.kind == "admin.warranty_claim")
    )
    # 31 days on: the button is gone and a forged press is refused.
    async with sessions.begin() as s:
        await s.execute(update(Order).where(Order.id == orders[BUYER.id]).values(paid_at=utcnow() - timedelta(days=31)))
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=orders[BUYER.id]))
    assert "🛡 Warranty ended" in texts(calls)[0] and "🛠 Report a problem" not in buttons(calls)
    audits = await one(sessions, select(func.count()).where(AuditLog.action == "order.warranty_claim"))
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.problem, id=orders[BUYER.id]))
    assert alerts(calls) == ["This order's warranty has ended (or it has none): please write to Support."]
    assert await one(sessions, select(func.count()).where(AuditLog.action == "order.warranty_claim")) == audits == 1
    assert await one(sessions, select(func.count()).where(OutboxMessage.kind == "admin.warranty_claim")) == claims


# Per-buyer limit


async def test_a_per_buyer_limit_bounds_the_card_the_cart_and_checkout(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, name="Pass", units=10, goods=goods)
    await tg.press(ADMIN, InvCb(action=InvAction.limit, node=Node.product, id=product))
    calls = await tg.send(ADMIN, "2 thirty")
    assert texts(calls)[0].startswith("That does not work")
    calls = await tg.send(ADMIN, "2 30")
    assert "Per buyer: at most 2 every 30 days" in texts(calls)[-1]

    calls = await tg.press(BUYER, ProductCb(action=ProductAction.view, id=product))
    assert "At most 2 per buyer every 30 days; you may buy 2 more now." in texts(calls)[0]
    assert set(buttons(calls)) >= {"1", "+"} and "+5" not in buttons(calls)  # steps stop at the limit
    calls = await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=3))  # forged past the steps
    assert "You can buy at most 2 of Pass every 30 days. You may buy 2 more now." in alerts(calls)
    order_id = await place(tg, sessions, BUYER, product, qty=2)
    assert await one(sessions, select(Order.status).where(Order.id == order_id)) == "awaiting_payment"
    await pay(sessions, settings, order_id)
    calls = await tg.press(BUYER, ProductCb(action=ProductAction.view, id=product))
    assert "you may buy 0 more now" in texts(calls)[0] and "🛒 Add 1 to cart" not in buttons(calls)

    # Checkout counts again, inside its transaction: a line slipped into the cart is refused with what is left.
    user_id = await one(sessions, select(User.id).where(User.telegram_id == BUYER.id))
    async with sessions.begin() as s:
        variant = await variant_of(s, product)
        await s.execute(insert(CartItem).values(user_id=user_id, product_id=product, variant_id=variant, quantity=1))
    calls = await tg.press(BUYER, PayCb(chain=Chain.btc))
    assert alerts(calls) == ["You can buy at most 2 of Pass every 30 days, and you have reached that for now."]
    assert await one(sessions, select(func.count()).select_from(Order)) == 1
    # An expired order does not count; 31 days later the limit starts afresh.
    async with sessions.begin() as s:
        await s.execute(update(Order).values(created_at=utcnow() - timedelta(days=31)))
    calls = await tg.press(BUYER, CartCb(action=CartAction.checkout))
    calls = await tg.press(BUYER, PayCb(chain=Chain.btc))
    assert await one(sessions, select(func.count()).select_from(Order)) == 2


async def test_refusals_arrive_in_german(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, name="Pass", units=10, goods=goods)
    async with sessions.begin() as s:
        await s.execute(update(Product).values(limit_units=1, limit_days=7, warranty_days=14))
    calls = await tg.press(DE_BUYER, ProductCb(action=ProductAction.view, id=product))
    assert (
        "Höchstens 1 pro Käufer alle 7 Tage" in texts(calls)[0] and "🛡 Garantie: 14 Tage ab Zahlung" in texts(calls)[0]
    )
    calls = await tg.press(DE_BUYER, ProductCb(action=ProductAction.add, id=product, qty=2))
    assert "Du kannst höchstens 1 von Pass alle 7 Tage kaufen. Jetzt noch 1." in alerts(calls)


# Catalog files


async def test_catalog_files_round_trip_kinds_warranty_and_limit(sessions, goods) -> None:
    products = [
        {"name": "Course", "price": "20", "kind": "unlimited", "warranty_days": 14},
        {"name": "Report", "price": "9.50", "kind": "file", "limit": {"units": 1, "days": 365}},
        {
            "name": "Key",
            "price": "5",
            "kind": "digital",
            "stock": ["K-1"],
            "warranty_days": 30,
            "limit": {"units": 2, "days": 30},
        },
        {"name": "Mug", "price": "12", "kind": "physical", "quantity": 3},
    ]
    catalog = {"categories": [{"name": "Shop", "subcategories": [{"name": "All", "products": products}]}]}
    async with sessions() as s:
        await CatalogImporter(s, goods).import_catalog(catalog)
    async with sessions() as s:
        exported = await CatalogExporter(s, goods).export_catalog()
    got = {p["name"]: p for p in exported["categories"][0]["subcategories"][0]["products"]}
    assert (got["Course"]["kind"], got["Course"]["warranty_days"]) == ("unlimited", 14)
    assert (got["Report"]["kind"], got["Report"]["limit"]) == ("file", {"units": 1, "days": 365})
    assert (got["Key"]["warranty_days"], got["Key"]["limit"]) == (30, {"units": 2, "days": 30})
    assert "warranty_days" not in got["Mug"] and "limit" not in got["Mug"]
    async with sessions() as s:
        summary = await CatalogImporter(s, goods).import_catalog(exported)
    assert (summary.products_created, summary.products_updated) == (0, 0)  # the export imports as it was
    terms = await rows(
        sessions,
        select(Product.name, Product.kind, Product.warranty_days, Product.limit_units, Product.limit_days).order_by(
            Product.name
        ),
    )
    assert terms == [
        ("Course", ProductKind.unlimited, 14, None, None),
        ("Key", ProductKind.digital, 30, 2, 30),
        ("Mug", ProductKind.physical, None, None, None),
        ("Report", ProductKind.file, None, 1, 365),
    ]
    bad = {
        "categories": [
            {
                "name": "Shop",
                "subcategories": [
                    {
                        "name": "All",
                        "products": [
                            {
                                "name": "X",
                                "price": "1",
                                "kind": "unlimited",
                                "warranty_days": 0,
                                "limit": {"units": 2},
                                "stock": ["a"],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    async with sessions() as s:
        with pytest.raises(CatalogErrors) as caught:
            await CatalogImporter(s, goods).import_catalog(bad)
    p = "categories[0].subcategories[0].products[0]"
    assert caught.value.problems == [
        f"{p}.stock: only digital products have stock entries; give physical ones a quantity",
        f"{p}.warranty_days: must be a whole number of days from 1 to 3650",
        f"{p}.limit.days: missing",
    ]


async def test_the_admin_changes_a_kind_only_where_no_buyer_would_lose_what_they_bought(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, name="Manual", units=1, goods=goods)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    calls = await tg.press(ADMIN, buttons(calls)["🔁 Kind"])
    calls = await tg.press(ADMIN, buttons(calls)["file"])
    assert alerts(calls) == [
        "The kind stays as it is: the digital product has 1 unsold units, so it cannot become file."
    ]
    order_id = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, order_id)
    calls = await tg.press(ADMIN, KindCb(kind=ProductKind.file, id=product))  # its one unit is sold now
    assert alerts(calls) == ["The kind stays as it is: the digital product has 1 sold units, so it cannot become file."]
    calls = await tg.press(ADMIN, KindCb(kind=ProductKind.unlimited, id=product))
    assert "Kind changed." in alerts(calls) or "Kind changed." in texts(calls)
    assert await one(sessions, select(Product.kind).where(Product.id == product)) is ProductKind.unlimited
    kinds = await rows(sessions, select(AuditLog.before, AuditLog.after).where(AuditLog.action == "product.kind"))
    assert kinds == [({"kind": "digital"}, {"kind": "unlimited"})]
