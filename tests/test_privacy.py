"""A buyer's data requests through the real Dispatcher: /mydata sends a JSON document of everything the shop
keeps about them; /deleteme, confirmed, erases their personal data while their orders keep their amounts."""

import json
from typing import Any

from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from sqlalchemy import func, select

from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.callbacks import (
    OrderAction,
    OrderCb,
    PrivacyAction,
    PrivacyCb,
    ProductAction,
    ProductCb,
    ReviewAction,
    ReviewCb,
)
from models.enums import OrderStatus, ProductKind
from models.ops import AuditLog
from models.orders import Invoice, Order, OrderItem
from models.shop import CartItem, Review, User
from tests.admin_flow import ADMIN, alerts, cancel, one, outbox_sender, pay, place, rows
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

ALICE = Person(id=601, first_name="Alice", username="alice")


async def my_data(tg: Telegram, person: Person) -> dict[str, Any]:
    calls = await tg.send(person, "/mydata")
    sent = [c for c in calls if isinstance(c, SendDocument)]
    assert len(sent) == 1 and sent[0].chat_id == person.id
    document = sent[0].document
    assert isinstance(document, BufferedInputFile) and document.filename == f"my-data-{person.id}.json"
    assert sent[0].caption == "📄 Everything the shop keeps about you. Your goods are not in it: they are in My orders."
    data: dict[str, Any] = json.loads(document.data)
    return data


async def a_buyer_with_history(tg: Telegram, sessions, settings, goods) -> tuple[int, int]:
    """Alice received one editor (and reviewed it with text), and has a second product in her cart."""
    product = await seed_product(sessions, units=5, goods=goods)
    other = await seed_product(sessions, name="Chess", category="Games", units=2, goods=goods)
    order_id = await place(tg, sessions, ALICE, product)
    await pay(sessions, settings, order_id)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    await tg.press(ALICE, ReviewCb(action=ReviewAction.stars, product=product, stars=5))
    await tg.send(ALICE, "My favourite editor, says Alice from Berlin")
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=other, qty=1))
    return order_id, product


async def test_mydata_sends_profile_orders_and_reviews_as_json(tg: Telegram, sessions, settings, goods) -> None:
    order_id, _ = await a_buyer_with_history(tg, sessions, settings, goods)
    data = await my_data(tg, ALICE)
    assert data["profile"] == {
        "telegram_id": ALICE.id,
        "username": "alice",
        "language": "en",
        "first_seen_at": data["profile"]["first_seen_at"],
        "expired_orders_counted": 0,
        "blocked_from_checkout": False,
        "personal_data_erased_at": None,
    }
    [order] = data["orders"]
    invoice = await one(sessions, select(Invoice).where(Invoice.order_id == order_id))
    assert (order["id"], order["status"], order["total"], order["currency"]) == (order_id, "paid", "12.50", "USD")
    assert order["items"] == [{"product": "Editor Pro 1y", "quantity": 1, "unit_price": "12.50"}]
    assert order["invoice"]["coin"] == "BTC" and order["invoice"]["address"] == invoice.address
    assert order["invoice"]["amount_due"] == "0.00020834" and len(order["invoice"]["payments"]) == 1
    assert order["paid_at"] and order["delivered_at"]
    assert data["reviews"] == [
        {
            "product": "Editor Pro 1y",
            "stars": 5,
            "text": "My favourite editor, says Alice from Berlin",
            "status": "pending",
            "written_at": data["reviews"][0]["written_at"],
        }
    ]
    assert data["cart"] == [{"product": "Chess", "quantity": 1}]
    assert data["memberships"] == []  # channel memberships: tests/test_channel_access.py
    assert "KEY-" not in json.dumps(data)  # goods are secrets: they stay in the order view


async def test_deleteme_erases_personal_data_and_keeps_the_order_amounts(
    tg: Telegram, sessions, settings, goods
) -> None:
    order_id, product = await a_buyer_with_history(tg, sessions, settings, goods)
    open_order = await place(tg, sessions, ALICE, product)  # the cart's chess is in this order now

    calls = await tg.send(ALICE, "/deleteme")
    assert texts(calls)[0].startswith("🗑 <b>Erase your personal data?</b>")
    assert list(buttons(calls)) == ["🗑 Yes, erase my data", "✖ No, keep it"]
    calls = await tg.press(ALICE, buttons(calls)["🗑 Yes, erase my data"])
    assert alerts(calls) == [
        f"Order #{open_order} is waiting for payment. Pay or cancel it first, then erase your data."
    ]
    assert await one(sessions, select(User.username).where(User.telegram_id == ALICE.id)) == "alice"

    await cancel(tg, ALICE, open_order)
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=1))
    orders_before = await rows(sessions, select(Order.id, Order.status, Order.total_minor).order_by(Order.id))
    items_before = await rows(sessions, select(OrderItem.order_id, OrderItem.product_name, OrderItem.quantity))
    calls = await tg.press(ALICE, PrivacyCb(action=PrivacyAction.erase))
    assert texts(calls)[0] == (
        "✅ Done: your username, your cart, 0 shipping address(es) and 1 review text(s) are erased."
    )

    user = await one(sessions, select(User).where(User.telegram_id == ALICE.id))
    assert user.username is None and user.erased_at is not None
    assert [tuple(r) for r in await rows(sessions, select(Review.stars, Review.text))] == [(5, None)]
    assert await one(sessions, select(func.count()).select_from(CartItem)) == 0
    assert await rows(sessions, select(Order.id, Order.status, Order.total_minor).order_by(Order.id)) == orders_before
    assert await rows(sessions, select(OrderItem.order_id, OrderItem.product_name, OrderItem.quantity)) == items_before
    assert orders_before[0][2] == 1250
    erase = await rows(
        sessions, select(AuditLog.actor, AuditLog.entity_id, AuditLog.after).where(AuditLog.action == "user.erase")
    )
    assert [tuple(a) for a in erase] == [
        (f"buyer:{ALICE.id}", user.id, {"username": True, "addresses": 0, "review_texts": 1})
    ]

    await tg.send(ALICE, "/start")  # Telegram still sends her username with every update: it is not stored again
    data = await my_data(tg, ALICE)
    assert data["profile"]["username"] is None and data["profile"]["personal_data_erased_at"]
    assert [o["total"] for o in data["orders"]] == ["12.50", "25.00"]
    assert data["reviews"][0]["text"] is None and data["cart"] == []
    assert "Berlin" not in json.dumps(data) and "alice" not in json.dumps(data)
    calls = await tg.press(ALICE, OrderCb(action=OrderAction.view, id=order_id))
    assert "Total: 12.50 USD" in texts(calls)[0]  # her order is still hers


async def test_deleteme_cancelled_erases_nothing(tg: Telegram, sessions, settings, goods) -> None:
    await a_buyer_with_history(tg, sessions, settings, goods)
    await tg.send(ALICE, "/deleteme")
    calls = await tg.press(ALICE, PrivacyCb(action=PrivacyAction.keep))
    assert texts(calls)[0] == "Nothing was erased."
    assert await one(sessions, select(User.username).where(User.telegram_id == ALICE.id)) == "alice"
    assert await one(sessions, select(Review.text)) == "My favourite editor, says Alice from Berlin"
    assert await one(sessions, select(func.count()).select_from(AuditLog).where(AuditLog.action == "user.erase")) == 0


async def test_deleteme_waits_for_a_parcel_to_ship_then_erases_its_address(
    tg: Telegram, sessions, settings, goods
) -> None:
    parcel = await seed_product(sessions, name="Parcel", kind=ProductKind.physical, units=2, goods=goods)
    order_id = await place(tg, sessions, ALICE, parcel, address="Alice Example\nHauptstr. 1\n10115 Berlin")
    await pay(sessions, settings, order_id)
    shipping = (await my_data(tg, ALICE))["orders"][0]["shipping"]
    assert shipping == {
        "option": None,
        "price": "0.00",
        "address": "Alice Example\nHauptstr. 1\n10115 Berlin",
        "address_state": "given",
        "address_erased_at": None,
    }

    calls = await tg.press(ALICE, PrivacyCb(action=PrivacyAction.erase))
    assert alerts(calls) == [
        f"Order #{order_id} is paid and waits to be shipped to your address. Erase your data once it is shipped."
    ]
    assert await one(sessions, select(Order.address_enc).where(Order.id == order_id)) is not None

    await tg.press(ADMIN, AdminOrderCb(action=AoAction.ship, id=order_id))
    await tg.send(ADMIN, "DHL 0034")
    assert await one(sessions, select(Order.status).where(Order.id == order_id)) is OrderStatus.shipped
    calls = await tg.press(ALICE, PrivacyCb(action=PrivacyAction.erase))
    assert texts(calls)[0] == (
        "✅ Done: your username, your cart, 1 shipping address(es) and 0 review text(s) are erased."
    )
    assert await one(sessions, select(Order.address_enc).where(Order.id == order_id)) is None
    data = await my_data(tg, ALICE)
    assert data["orders"][0]["shipping"]["address"] is None
    assert data["orders"][0]["shipping"]["address_state"] == "erased"
    assert (data["orders"][0]["total"], data["orders"][0]["tracking"]) == ("12.50", "DHL 0034")
    assert "Hauptstr" not in json.dumps(data)
