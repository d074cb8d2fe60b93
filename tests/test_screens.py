"""Issue 17, item 3: screens that tell the truth. Each screen that misled a buyer or an admin in the trial,
before and after, pressed through the real Dispatcher: long-polling the HTTP Bot API double where what
Telegram keeps of a message matters (edits, length limits, files), else with the recording session."""

from dataclasses import replace
from typing import Any

import pytest
from aiogram.methods import SendPhoto
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.container import Container
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import ApAction, ProblemCb
from handlers.callbacks import OrderAction, OrderCb, ProductAction, ProductCb
from l10n import Translator
from models.enums import Chain, OrderProblem, OrderStatus, OutboxStatus, ProductKind
from models.ops import OutboxMessage
from models.orders import Invoice, InvoiceMessage, Order
from models.shop import CartItem, Category, Product, User
from processing.observer import Observer
from services.money import format_amount
from services.orders.buyer import OrderService
from services.payments.seen import SeenPayment
from services.shop.cart import CartService
from tests.admin_double import PolledShop, polled_shop
from tests.admin_flow import (
    ADMIN,
    PARCEL_ADDRESS,
    cancel,
    expire_overdue,
    one,
    order,
    outbox_sender,
    pay,
    place,
    rows,
    sent_to,
)
from tests.doubles.telegram import FakeUser, Json, find_button
from tests.doubles.telegram import buttons as double_buttons
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_webhook import StaticChain

en = Translator()("en")
IDA = FakeUser(id=701, first_name="Ida", username="ida")
INVOICE_BUTTONS = ["🔄 I've paid, check now", "✖ Cancel order", "🏠 Main menu"]


@pytest.fixture
def container(container):
    """The observer (its cycles and the buyer's "check now") looks at a chain the test fills."""
    return replace(
        container, observer=Observer(container.sessions, container.settings, {Chain.btc: StaticChain(Chain.btc)})
    )


# The HTTP double: a buyer in front of the polled shop ---------------------------------------------------------


async def next_in_chat(shop: PolledShop, seen: int, count: int = 1) -> list[Json]:
    def arrived() -> list[Json] | None:
        fresh = shop.double.sent_to(IDA.id)[seen:]
        return fresh[:count] if len(fresh) >= count else None

    return await shop.double.wait_for(arrived, timeout=20)


async def press(shop: PolledShop, message: Json, text: str, count: int = 1) -> list[Json]:
    """Ida presses the button labelled `text` on the message as she sees it now; the bot's next sends or edits,
    once the handler is done."""
    seen = len(shop.double.sent_to(IDA.id))
    update = await shop.double.user_presses(IDA, message, find_button(message, text=text))
    replies = await next_in_chat(shop, seen, count)
    # the press is answered once its handler has returned, and has recorded what it showed
    await shop.double.wait_for(lambda: shop.double.callback_answer(update), timeout=20)
    return replies


async def invoice_for(shop: PolledShop, product: int, quantity: int = 1) -> Json:
    """/start, the product in Ida's cart, then Cart → Checkout → BTC: the invoice photo she holds."""
    seen = len(shop.double.sent_to(IDA.id))
    await shop.double.user_sends_text(IDA, "/start")
    menu = next(m for m in await next_in_chat(shop, seen, 2) if "reply_markup" in m)
    user_id = await one(shop.container.sessions, select(User.id).where(User.telegram_id == IDA.id))
    async with shop.container.sessions() as s:
        await CartService(s).add_from_card(user_id, product, quantity)
    (cart,) = await press(shop, menu, "🛒 Cart")
    (chains,) = await press(shop, cart, "💳 Checkout")
    (invoice,) = await press(shop, chains, "BTC")
    return invoice


async def latest_order(sessions) -> int:
    return int(await one(sessions, select(func.max(Order.id))))


def now(shop: PolledShop, message: Json) -> Json:
    current = shop.double.message(message["chat"]["id"], message["message_id"])
    assert current is not None
    return current


async def send_outbox(shop: PolledShop) -> None:
    await shop.container.outbox_sender(shop.bot).send_due()


async def pay_seen(sessions, settings, order_id: int) -> None:
    await pay(sessions, settings, order_id, confirmations=0)


async def pay_in_full(sessions, settings, order_id: int) -> None:
    await pay(sessions, settings, order_id)


@pytest.mark.parametrize(
    ("move", "status"),
    [(pay_seen, "confirming"), (pay_in_full, "paid"), (expire_overdue, "expired")],
    ids=["payment_seen", "paid", "expired"],
)
async def test_the_invoice_a_buyer_holds_loses_its_buttons_when_the_order_moves_on(
    container, sessions, settings, goods, move: Any, status: str
) -> None:
    """After an expiry or a payment, the invoice still said "Send exactly … to …" with live buttons."""
    product = await seed_product(sessions, units=2, goods=goods)
    async with polled_shop(container) as shop:
        invoice = await invoice_for(shop, product)
        order_id = await latest_order(sessions)
        assert "Send exactly" in invoice["caption"]  # before: a live invoice
        assert [b["text"] for b in double_buttons(invoice)] == INVOICE_BUTTONS

        await move(sessions, settings, order_id)
        await send_outbox(shop)
        after = now(shop, invoice)
        assert after["caption"] == en(f"notify.invoice_closed.{status}", order_id=order_id)
        assert "reply_markup" not in after and "photo" in after  # the same message, its buttons gone
        with pytest.raises(LookupError):  # nothing left to press: no check-now, no cancel, no paying it
            await shop.double.user_presses(IDA, invoice, find_button(invoice, text=INVOICE_BUTTONS[0]))
        assert not [e for e in shop.double.errors if e[0] != "getUpdates"]


async def test_cancel_on_another_copy_of_the_invoice_closes_every_copy(container, sessions, goods) -> None:
    """The buyer reopens the order (a second copy of the invoice) and cancels there: both copies say so."""
    product = await seed_product(sessions, units=2, goods=goods)
    async with polled_shop(container) as shop:
        first = await invoice_for(shop, product)
        order_id = await latest_order(sessions)
        (menu,) = await press(shop, first, "🏠 Main menu")
        (mine,) = await press(shop, menu, "📦 My orders")
        (second,) = await press(
            shop, mine, next(b["text"] for b in double_buttons(mine) if f"#{order_id}" in b["text"])
        )
        assert [b["text"] for b in double_buttons(second)] == INVOICE_BUTTONS
        (question,) = await press(shop, second, "✖ Cancel order")
        assert question["text"].startswith(f"Cancel order #{order_id}?")
        (done,) = await press(shop, question, "✖ Yes, cancel the order")
        assert done["text"].startswith(f"Order #{order_id} is cancelled.")

        await send_outbox(shop)
        closed = en("notify.invoice_closed.cancelled", order_id=order_id)
        for copy in (first, second):
            assert (now(shop, copy)["caption"], "reply_markup" in now(shop, copy)) == (closed, False)


async def test_an_invoice_that_cannot_be_edited_any_more_gets_a_new_short_message(
    container, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    async with polled_shop(container) as shop:
        invoice = await invoice_for(shop, product)
        order_id = await latest_order(sessions)
        shop.double.user_deletes(invoice)
        await expire_overdue(sessions, settings, order_id)
        seen = len(shop.double.sent_to(IDA.id))
        await send_outbox(shop)
        sent = [m.get("text") for m in shop.double.sent_to(IDA.id)[seen:]]
        closed = en("notify.invoice_closed.expired", order_id=order_id)
        assert closed in sent and en("notify.expired", order_id=order_id) in sent
        (refused,) = [body for method, body in shop.double.errors if method == "editMessageCaption"]
        assert refused["description"] == "Bad Request: message to edit not found"
    edits = await rows(sessions, select(OutboxMessage.status).where(OutboxMessage.kind == "invoice_closed"))
    assert edits == [(OutboxStatus.sent,)]


async def test_an_invoice_shown_while_its_order_awaits_payment_is_remembered_in_one_statement(
    tg: Telegram, engine: AsyncEngine, sessions, settings, wallet, goods
) -> None:
    """Every pay press records the invoice it sent: the usual case, an order still unpaid, is one INSERT that
    reads the status it needs, with nothing queued to edit."""
    order_id = await place(tg, sessions, Person(id=703), await seed_product(sessions, units=1, goods=goods))
    ran: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):
            ran.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with sessions() as s:
        await OrderService(s, settings, wallet, goods).invoice_shown(order_id, 703, 4322)
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(ran) == 1, ran
    remembered = select(InvoiceMessage.order_id, InvoiceMessage.chat_id).where(InvoiceMessage.message_id == 4322)
    assert await rows(sessions, remembered) == [(order_id, 703)]
    assert await one(sessions, select(InvoiceMessage.sent_at).where(InvoiceMessage.message_id == 4322)) is not None
    closed = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "invoice_closed")
    assert await one(sessions, closed) == 0


async def test_an_invoice_shown_while_its_order_moved_on_is_edited_all_the_same(
    tg: Telegram, sessions, settings, wallet, goods
) -> None:
    """The invoice went out while the order changed: recording it queues its edit at once."""
    order_id = await place(tg, sessions, Person(id=702), await seed_product(sessions, units=1, goods=goods))
    await expire_overdue(sessions, settings, order_id)
    async with sessions() as s:
        await OrderService(s, settings, wallet, goods).invoice_shown(order_id, 702, 4321)
    queued = await rows(
        sessions, select(OutboxMessage.chat_id, OutboxMessage.params).where(OutboxMessage.kind == "invoice_closed")
    )
    assert (702, {"message_id": 4321, "status": "expired"}) in [tuple(r) for r in queued]
    assert await one(sessions, select(func.count()).select_from(InvoiceMessage)) == 0  # each edited once


# Check now while a payment confirms -------------------------------------------------------------------------


def shows(container: Container, address: str, amount: int, confirmations: int) -> None:
    """From now on the chain shows one payment of `amount` to `address`."""
    chain = container.observer.backends[Chain.btc]
    assert isinstance(chain, StaticChain)
    block = (100, "cd" * 32) if confirmations else (None, None)
    chain.payments[address] = [SeenPayment("ab" * 32 + ":0", address, amount, confirmations, *block)]


async def test_check_now_while_confirming_shows_the_payment_and_no_invoice(
    tg: Telegram, container, sessions, settings, goods
) -> None:
    """It used to send the unpaid invoice again, with a new QR and a Cancel button: an invitation to pay twice."""
    buyer = Person(id=703)
    order_id = await place(tg, sessions, buyer, await seed_product(sessions, units=1, goods=goods))
    calls = await tg.press(buyer, OrderCb(action=OrderAction.view, id=order_id))
    assert list(buttons(calls)) == INVOICE_BUTTONS  # before: the invoice
    check = buttons(calls)["🔄 I've paid, check now"]
    invoice = await one(sessions, select(Invoice).where(Invoice.order_id == order_id))
    due = invoice.amount_due
    shows(container, invoice.address, due, 0)

    calls = await tg.press(buyer, check)
    assert not any(isinstance(c, SendPhoto) for c in calls)  # no QR, no invoice
    assert f"🔄 Payment seen: {fmt(due)} of {fmt(due)} BTC, 0/1 confirmations." in texts(calls)[0]
    assert "Please do not pay again." in texts(calls)[0] and "Send exactly" not in texts(calls)[0]
    assert list(buttons(calls)) == ["🔄 I've paid, check now", "🏠 Main menu"]  # no Cancel
    assert await status(sessions, order_id) is OrderStatus.confirming

    short = due // 2  # a short payment: the screen asks for exactly what is missing, and only then
    shows(container, invoice.address, short, 1)
    calls = await tg.press(buyer, check)
    assert f"Payment seen: {fmt(short)} of {fmt(due)} BTC, 1/1 confirmations." in texts(calls)[0]
    remainder = f"send the remaining <code>{fmt(due - short)}</code> BTC to <code>{invoice.address}</code>"
    assert remainder in texts(calls)[0] and "do not pay again" not in texts(calls)[0]

    german = Person(id=704, language_code="de")
    other = await place(tg, sessions, german, await seed_product(sessions, category="Home", units=1, goods=goods))
    await pay(sessions, settings, other, confirmations=0)
    calls = await tg.press(german, OrderCb(action=OrderAction.check, id=other))
    assert "Zahlung eingegangen: " in texts(calls)[0] and "Bitte nicht noch einmal bezahlen." in texts(calls)[0]


def fmt(base_units: int) -> str:
    return format_amount(Chain.btc, base_units)


async def status(sessions, order_id: int) -> OrderStatus:
    return (await order(sessions, order_id)).status


# Cancel ----------------------------------------------------------------------------------------------------


async def test_cancel_asks_first_and_puts_the_lines_back_in_the_cart(tg: Telegram, sessions, goods) -> None:
    """One tap right below "check now" cancelled at once, and the cart was gone."""
    editor = await seed_product(sessions, units=4, goods=goods)
    mug = await seed_product(sessions, name="Mug", category="Home", kind=ProductKind.physical, units=3)
    buyer, other = Person(id=705), Person(id=706)
    await tg.press(buyer, add(mug, 1))
    order_id = await place(tg, sessions, buyer, editor, qty=2, address=PARCEL_ADDRESS)  # 2 editors and the mug
    calls = await tg.press(buyer, OrderCb(action=OrderAction.view, id=order_id))

    calls = await tg.press(buyer, buttons(calls)["✖ Cancel order"])
    assert texts(calls)[0].startswith(f"Cancel order #{order_id}?\nIf you have already sent the payment, do not cancel")
    assert list(buttons(calls)) == ["✖ Yes, cancel the order", "⬅ No, keep it"]
    assert await status(sessions, order_id) is OrderStatus.awaiting_payment  # nothing happened yet
    kept = await tg.press(buyer, buttons(calls)["⬅ No, keep it"])
    shipped_invoice = [INVOICE_BUTTONS[0], "✏ Change shipping address", *INVOICE_BUTTONS[1:]]  # the mug is shipped
    assert list(buttons(kept)) == shipped_invoice
    assert await status(sessions, order_id) is OrderStatus.awaiting_payment

    await tg.press(buyer, add(editor, 1))  # one more in the cart meanwhile
    await place(tg, sessions, other, editor, qty=2)  # and someone else takes the rest of the shelf
    async with sessions.begin() as s:  # the mug is no longer sold
        await s.execute(update(Product).where(Product.id == mug).values(is_active=False))
    calls = await tg.press(buyer, buttons(calls)["✖ Yes, cancel the order"])
    assert texts(calls) == [
        f"Order #{order_id} is cancelled. Its items are back in your cart, as far as they are still in stock."
    ]
    assert list(buttons(calls)) == ["🛒 Cart", "🏠 Main menu"]
    assert await status(sessions, order_id) is OrderStatus.cancelled
    # 1 + 2 wanted, 2 on the shelf once the order let go of them: the cart holds what it may
    assert await cart_of(sessions, buyer) == {editor: 2}
    calls = await tg.press(buyer, buttons(calls)["🛒 Cart"])
    assert "Editor Pro 1y: 2 × 12.50 USD = 25.00 USD" in texts(calls)[0]


def add(product: int, qty: int) -> ProductCb:
    return ProductCb(action=ProductAction.add, id=product, qty=qty)


async def cart_of(sessions, person: Person) -> dict[int, int]:
    found = await rows(
        sessions, select(CartItem.product_id, CartItem.quantity).join(User).where(User.telegram_id == person.id)
    )
    return {product: quantity for product, quantity in found}


# Long goods ------------------------------------------------------------------------------------------------


async def test_many_keys_go_out_and_come_back_as_a_file(container, sessions, settings, goods) -> None:
    """With 250 keys the detail was one message: Telegram answered "message is too long" and the buyer saw
    nothing; the delivery was cut into chunks."""
    product = await seed_product(sessions, units=250, goods=goods)
    async with polled_shop(container) as shop:
        await invoice_for(shop, product, quantity=250)
        order_id = await latest_order(sessions)
        await pay(sessions, settings, order_id)
        seen = len(shop.double.sent_to(IDA.id))
        await send_outbox(shop)
        delivered = shop.double.sent_to(IDA.id)[seen:]
        (paid,) = [m for m in delivered if m.get("text", "").startswith(f"✅ Order #{order_id} is paid.")]
        assert paid["text"].endswith(en("goods.in_file"))
        (file,) = [m for m in delivered if "document" in m]
        keys = [f"KEY-Editor Pro 1y-{n:04d}" for n in range(250)]
        assert file["document"]["file_name"] == f"order-{order_id}.txt"
        assert sorted(shop.double.file_bytes(file["document"]["file_id"]).decode().splitlines()) == keys

        detail, attached = await press(shop, paid, f"#{order_id}", count=2)  # the delivery's button
        assert detail["text"].startswith(f"Order #{order_id} · paid") and en("goods.in_file") in detail["text"]
        assert sorted(shop.double.file_bytes(attached["document"]["file_id"]).decode().splitlines()) == keys
        assert not [e for e in shop.double.errors if e[0] != "getUpdates"]


# Admin screens ---------------------------------------------------------------------------------------------

LEAVE = [*(s for s in AdminSection if s is not AdminSection.broadcast), "/admin"]  # broadcast asks for text itself


@pytest.mark.parametrize("leave", LEAVE, ids=str)
async def test_a_section_button_or_admin_ends_a_pending_prompt(tg: Telegram, sessions, leave: Any) -> None:
    """In the trial "where is my parcel?", typed after leaving the new-category prompt through another
    section's button, became a category that buyers could see."""
    menu = buttons(await tg.send(ADMIN, "/admin"))
    calls = await tg.press(ADMIN, menu["🗃 Inventory"])
    calls = await tg.press(ADMIN, buttons(calls)["➕ New category"])
    assert texts(calls) == ["Send the name of the new category."]
    if leave == "/admin":
        await tg.send(ADMIN, "/admin")
    else:
        await tg.press(ADMIN, AdminCb(section=leave))  # the menu message's button, still on screen
    calls = await tg.send(ADMIN, "where is my parcel?")
    assert await one(sessions, select(func.count()).select_from(Category)) == 0
    assert texts(calls) == ["I did not understand that. Use the buttons below."]


async def test_a_section_button_ends_the_user_search_prompt_too(tg: Telegram, sessions) -> None:
    menu = buttons(await tg.send(ADMIN, "/admin"))
    calls = await tg.press(ADMIN, menu["👥 Users"])
    await tg.press(ADMIN, buttons(calls)["🔍 Find a user"])
    await tg.press(ADMIN, menu["⚠ Problems"])
    calls = await tg.send(ADMIN, "@nobody")
    assert texts(calls) == ["I did not understand that. Use the buttons below."]


async def test_every_order_is_in_one_admin_list_and_in_all(tg: Telegram, sessions, settings, goods) -> None:
    """Orders whose problem was closed dropped out of every list; an admin reached them only with /order N."""
    product = await seed_product(sessions, units=10, goods=goods)
    awaiting = await place(tg, sessions, Person(id=710), product)
    paid = await place(tg, sessions, Person(id=711), product)
    await pay(sessions, settings, paid)
    underpaid = await place(tg, sessions, Person(id=712), product)
    await pay(sessions, settings, underpaid, [100])
    await expire_overdue(sessions, settings, underpaid)
    late = await place(tg, sessions, Person(id=713), product)
    await expire_overdue(sessions, settings, late)
    await pay(sessions, settings, late)
    cancelled = await place(tg, sessions, Person(id=714), product)
    await cancel(tg, Person(id=714), cancelled)
    for order_id, problem in ((underpaid, OrderProblem.underpaid), (late, OrderProblem.paid_late)):
        await tg.press(ADMIN, ProblemCb(action=ApAction.close, id=order_id, problem=problem))
        await tg.send(ADMIN, "sorted out with the buyer")
        assert (await order(sessions, order_id)).problem is None

    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.orders))
    lists = {label.rsplit(" (", 1)[0]: data for label, data in buttons(calls).items() if label != "⬅ Back"}
    assert f"📋 All ({len([awaiting, paid, underpaid, late, cancelled])})" in buttons(calls)
    listed: dict[str, set[int]] = {}
    for name, data in lists.items():
        shown = buttons(await tg.press(ADMIN, data))
        listed[name] = {int(label.split(" · ")[0][1:]) for label in shown if label.startswith("#")}
    everyone = {awaiting, paid, underpaid, late, cancelled}
    assert listed.pop("📋 All") == everyone
    for order_id in everyone:
        assert [name for name, ids in listed.items() if order_id in ids] != [], order_id
        assert len([name for name, ids in listed.items() if order_id in ids]) == 1, order_id
    assert listed["⚠ Underpaid"] == {underpaid} and listed["⏰ Paid late"] == {late}


async def test_admin_alerts_name_overpaid_and_underpaid_with_the_amounts(
    tg: Telegram, sessions, settings, goods
) -> None:
    """An overpayment reached admins only as "order paid"."""
    product = await seed_product(sessions, units=2, goods=goods)
    over = await place(tg, sessions, Person(id=720), product)
    short = await place(tg, sessions, Person(id=721), product)
    due = await one(sessions, select(Invoice.amount_due).where(Invoice.order_id == over))
    await pay(sessions, settings, over, [due, 5_000])
    await pay(sessions, settings, short, [1_000])
    await expire_overdue(sessions, settings, short)
    before = len(tg.session.calls)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    alerts = sent_to(tg.session.calls[before:], ADMIN.id)
    assert f"💰 Order #{over} is paid, and overpaid by {fmt(5_000)} BTC. See Problems." in alerts
    assert any(
        a.startswith(f"⚠ Order #{short} is underpaid by {fmt(due - 1_000)} BTC ({fmt(1_000)} BTC received)")
        for a in alerts
    )
