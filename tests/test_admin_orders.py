"""The admin order desk through the real Dispatcher: lists, the order view, ship / cancel / expire /
confirm, and races between presses and admins."""

import asyncio

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import select

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.callbacks import CartAction, CartCb
from models.enums import Chain, Network, OrderStatus, ProductKind, StockStatus
from models.shop import User
from services.admin.dto import OrderBucket
from services.payments.explorer import tx_url
from tests.admin_flow import (
    ADMIN,
    ADMIN_2,
    SECOND_ADMIN,
    alerts,
    audit,
    cancel,
    one,
    order,
    outbox,
    outbox_sender,
    pay,
    place,
    sent_to,
    units,
)
from tests.conftest import ADMIN_ID
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, last_markup, texts

BUYER = Person(id=301, username="carol")


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"admin_ids": frozenset({ADMIN_ID, SECOND_ADMIN})})


def view(order_id: int) -> AdminOrderCb:
    return AdminOrderCb(action=AoAction.view, id=order_id)


async def test_physical_order_is_paid_then_shipped_with_tracking(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, name="Mug", kind=ProductKind.physical, units=3)
    order_id = await place(tg, sessions, BUYER, product, 2, address="Carol Doe\n1 Main St\nSpringfield")
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.list, bucket=OrderBucket.awaiting))
    assert f"#{order_id} · " in next(iter(buttons(calls)))

    await pay(sessions, settings, order_id)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.orders))
    assert "📦 Ready for shipment (1)" in buttons(calls) and "✅ Delivered (0)" in buttons(calls)
    calls = await tg.press(ADMIN, buttons(calls)["📦 Ready for shipment (1)"])
    calls = await tg.press(ADMIN, next(d for t, d in buttons(calls).items() if t.startswith(f"#{order_id}")))
    text = texts(calls)[0]
    assert f"<b>Order #{order_id}</b> · 📦 Ready for shipment" in text
    assert "Buyer: <code>301</code> @carol · language en" in text
    assert "Mug × 2 · 12.50 USD" in text and "Total: 25.00 USD" in text
    assert "Rate: 60000 USD per BTC (fixed," in text or "Rate: 60000.00 USD per BTC (fixed," in text
    assert f'<a href="https://mempool.space/tx/{order_id:032x}{0:032x}">' in text  # mainnet: an explorer link
    assert "placed · buyer 301" in text and "✉ new order → admin 900000001 · waiting" in text
    assert "paid · automatic · awaiting payment → paid" in text and "✉ paid, goods → buyer 301 · waiting" in text

    calls = await tg.press(ADMIN, buttons(calls)["🚚 Mark shipped"])
    assert texts(calls)[0].startswith(f"Order #{order_id}: send the tracking details")
    calls = await tg.send(ADMIN, "DHL 0034 <fragile>")
    assert texts(calls)[0].startswith(f"🚚 Order #{order_id} is marked shipped")
    assert "Tracking: DHL 0034 &lt;fragile&gt;" in texts(calls)[0]
    shipped = await order(sessions, order_id)
    assert (shipped.status, shipped.tracking) == (OrderStatus.shipped, "DHL 0034 <fragile>")
    assert shipped.shipped_at is not None
    (ship,) = [a for a in await audit(sessions, order_id) if a.action == "order.ship"]
    assert (ship.actor, ship.before, ship.after) == (
        f"admin:{ADMIN_ID}",
        {"status": "paid"},
        {"status": "shipped", "tracking": "DHL 0034 <fragile>"},
    )

    sent = await outbox_sender(tg, sessions, settings, goods).send_due()
    # paid, admin.new_order/paid ×2, shipped, and the edit of the invoice the buyer held
    assert sent == len(await outbox(sessions, "paid")) + 2 * 2 + 1 + 1
    notice = sent_to(tg.session.calls, BUYER.id)
    assert f"🚚 Order #{order_id} has been shipped.\nTracking: DHL 0034 &lt;fragile&gt;" in notice
    assert any("will be shipped soon" in t for t in notice)  # the paid notice of a physical order

    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.ship, id=order_id))  # an old button
    assert alerts(calls) == ["This order has moved on (now: shipped). Nothing was changed."]
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.list, bucket=OrderBucket.shipped))
    assert any(t.startswith(f"#{order_id}") for t in buttons(calls))


async def test_digital_paid_order_is_delivered_and_not_shippable(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, order_id)
    calls = await tg.press(ADMIN, view(order_id))
    assert "· ✅ Delivered" in texts(calls)[0] and "🚚 Mark shipped" not in buttons(calls)
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.ship, id=order_id))  # forged
    assert alerts(calls) == ["This order has moved on (now: paid). Nothing was changed."]
    assert (await order(sessions, order_id)).status is OrderStatus.paid


async def test_manual_confirmation_delivers_exactly_like_the_observer(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=4, goods=goods)
    dave = Person(id=302, username="dave")
    by_chain = await place(tg, sessions, BUYER, product, 2)
    by_admin = await place(tg, sessions, dave, product, 2)
    await pay(sessions, settings, by_chain)

    calls = await tg.press(ADMIN, view(by_admin))
    calls = await tg.press(ADMIN, buttons(calls)["✅ Confirm payment manually"])
    assert "why are you confirming the payment by hand" in texts(calls)[0]
    calls = await tg.send(ADMIN, "Paid in cash at the market stall")
    assert texts(calls)[0].startswith(f"✅ Order #{by_admin} is paid")

    paid = await outbox(sessions, "paid")
    assert paid == [(BUYER.id, by_chain, {"overpaid": False}), (dave.id, by_admin, {"overpaid": False})]
    admin_paid = await outbox(sessions, "admin.paid")
    assert sorted((c, o) for c, o, _ in admin_paid) == sorted(
        (a, o) for a in (ADMIN_ID, SECOND_ADMIN) for o in (by_chain, by_admin)
    )
    for order_id in (by_chain, by_admin):
        assert await units(sessions, StockStatus.sold, order_id) == 2
        assert await units(sessions, StockStatus.reserved, order_id) == 0
    (observer,) = [a for a in await audit(sessions, by_chain) if a.action == "order.paid"]
    (manual,) = [a for a in await audit(sessions, by_admin) if a.action == "order.paid"]
    assert (observer.actor, observer.reason) == ("observer", None)
    assert (manual.actor, manual.reason) == (f"admin:{ADMIN_ID}", "Paid in cash at the market stall")
    assert manual.before == observer.before and manual.after == observer.after == {"status": "paid", "sold_units": 2}

    await outbox_sender(tg, sessions, settings, goods).send_due()
    delivered = sent_to(tg.session.calls, dave.id)
    assert any(f"✅ Order #{by_admin} is paid." in t and "KEY-Editor Pro 1y-0002" in t for t in delivered)
    admin_notice = next(
        c
        for c in tg.session.calls
        if getattr(c, "chat_id", None) == ADMIN_ID and f"Order #{by_admin} is paid" in (getattr(c, "text", "") or "")
    )
    assert last_markup([admin_notice]).inline_keyboard[0][0].callback_data == view(by_admin).pack()


async def test_cancel_with_reason_and_expire_now(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    dave = Person(id=302)
    cancelled = await place(tg, sessions, BUYER, product)
    expired = await place(tg, sessions, dave, product)

    await tg.press(ADMIN, AdminOrderCb(action=AoAction.cancel, id=cancelled))
    calls = await tg.send(ADMIN, "Out of stock at the warehouse")
    assert texts(calls)[0].startswith(f"✖ Order #{cancelled} is cancelled")
    assert (await order(sessions, cancelled)).status is OrderStatus.cancelled
    assert await outbox(sessions, "cancelled_by_shop") == [
        (BUYER.id, cancelled, {"reason": "Out of stock at the warehouse"})
    ]
    (cancel,) = [a for a in await audit(sessions, cancelled) if a.action == "order.cancel"]
    assert (cancel.actor, cancel.reason, cancel.after) == (
        f"admin:{ADMIN_ID}",
        "Out of stock at the warehouse",
        {"status": "cancelled", "released_units": 1},
    )

    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.expire, id=expired))
    assert texts(calls)[0].startswith(f"Expire order #{expired} now?")
    calls = await tg.press(ADMIN, buttons(calls)["⌛ Yes, expire it"])
    assert alerts(calls) == [f"Order #{expired} expired."]
    assert (await order(sessions, expired)).status is OrderStatus.expired
    assert await one(sessions, select(User.timeout_count).where(User.telegram_id == dave.id)) == 1
    assert [(c, o) for c, o, _ in await outbox(sessions, "expired")] == [(dave.id, expired)]
    assert await units(sessions, StockStatus.available) == 2
    assert [a.action for a in await audit(sessions, expired)] == ["order.place", "order.expire"]


async def test_double_press_and_two_admins_act_once(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=3, goods=goods)
    first = await place(tg, sessions, BUYER, product)
    second = await place(tg, sessions, Person(id=302), product)

    before = len(tg.session.calls)  # concurrent updates: each one's calls interleave, so look at all of them
    await asyncio.gather(*(tg.press(ADMIN, AdminOrderCb(action=AoAction.expire_now, id=first)) for _ in range(2)))
    assert sorted(alerts(tg.session.calls[before:])) == [
        f"Order #{first} expired.",
        "This order has moved on (now: expired). Nothing was changed.",
    ]
    assert await one(sessions, select(User.timeout_count).where(User.telegram_id == BUYER.id)) == 1
    assert len(await outbox(sessions, "expired")) == 1
    assert [a.action for a in await audit(sessions, first)] == ["order.place", "order.expire"]

    for admin in (ADMIN, ADMIN_2):
        await tg.press(admin, AdminOrderCb(action=AoAction.confirm, id=second))
    before = len(tg.session.calls)
    await asyncio.gather(tg.send(ADMIN, "seen on chain"), tg.send(ADMIN_2, "buyer sent a screenshot"))
    firsts = sorted(sent_to(tg.session.calls[before:], ADMIN_ID) + sent_to(tg.session.calls[before:], SECOND_ADMIN))
    assert firsts[0] == "This order has moved on (now: paid). Nothing was changed."
    assert firsts[1].startswith(f"✅ Order #{second} is paid")
    assert len(await outbox(sessions, "paid")) == 1
    assert [a.action for a in await audit(sessions, second)] == ["order.place", "order.paid"]
    assert await units(sessions, StockStatus.sold, second) == 1


async def test_prompt_is_left_by_any_button_and_refuses_empty_text(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    await tg.press(ADMIN, AdminOrderCb(action=AoAction.cancel, id=order_id))
    calls = await tg.send(ADMIN, "/nonsense")
    assert texts(calls) == ["Please send one text message of at most 500 characters, or press Cancel."]
    calls = await tg.press(ADMIN, view(order_id))  # "✖ Cancel": back to the order, prompt gone
    assert f"<b>Order #{order_id}</b>" in texts(calls)[0]
    calls = await tg.send(ADMIN, "this is no longer a reason")
    assert (await order(sessions, order_id)).status is OrderStatus.awaiting_payment
    assert "Cancel" not in "".join(texts(calls))


async def test_unknown_order_and_the_order_command(tg: Telegram, sessions, goods) -> None:
    calls = await tg.press(ADMIN, view(999))
    assert alerts(calls) == ["Order #999 does not exist."]
    calls = await tg.send(ADMIN, "/order 999")
    assert texts(calls) == ["Order #999 does not exist."]
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    calls = await tg.send(ADMIN, f"/order {order_id}")
    assert f"<b>Order #{order_id}</b> · awaiting payment" in texts(calls)[0]
    assert {"✅ Confirm payment manually", "✖ Cancel with reason", "⌛ Expire now"} <= set(buttons(calls))


def test_explorer_links_only_for_public_networks() -> None:
    txid = "ab" * 32
    assert tx_url(Chain.btc, Network.mainnet, f"{txid}:1") == f"https://mempool.space/tx/{txid}"
    assert tx_url(Chain.ltc, Network.testnet, f"{txid}:0") == f"https://litecoinspace.org/testnet/tx/{txid}"
    assert tx_url(Chain.eth, Network.mainnet, "0x" + txid) == f"https://etherscan.io/tx/0x{txid}"
    assert (
        tx_url(Chain.eth, Network.testnet, "0x" + txid, eth_chain_id=11155111)
        == f"https://sepolia.etherscan.io/tx/0x{txid}"
    )
    assert tx_url(Chain.eth, Network.mainnet, f"0x{'1' * 40}@123") is None  # an internal transfer: no tx
    sig = "5" * 88
    assert tx_url(Chain.sol, Network.mainnet, f"{sig}:addr") == f"https://solscan.io/tx/{sig}"
    assert tx_url(Chain.sol, Network.testnet, f"{sig}:addr") == f"https://solscan.io/tx/{sig}?cluster=devnet"
    for chain in Chain:
        assert tx_url(chain, Network.regtest, f"{txid}:0") is None


async def test_every_admin_notice_has_a_button_to_the_admin_order_view(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    cancelled = await place(tg, sessions, BUYER, product)
    await cancel(tg, BUYER, cancelled)
    await tg.press(BUYER, CartCb(action=CartAction.clear))  # what the cancel put back in the cart
    paid = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, paid)
    before = len(tg.session.calls)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    notices = [c for c in tg.session.calls[before:] if isinstance(c, SendMessage) and c.chat_id == ADMIN_ID]
    assert [c.text for c in notices] == [
        f"🛒 New order #{cancelled}: 12.50 USD, to be paid in BTC.",
        f"✖ Order #{cancelled} was cancelled by the buyer.",
        f"🛒 New order #{paid}: 12.50 USD, to be paid in BTC.",
        f"💰 Order #{paid} is paid.",
    ]
    for notice, order_id in zip(notices, (cancelled, cancelled, paid, paid), strict=True):
        assert buttons([notice]) == {f"#{order_id}": view(order_id).pack()}
    calls = await tg.press(ADMIN, view(cancelled))
    assert f"<b>Order #{cancelled}</b> · cancelled" in texts(calls)[0]
    assert f"cancelled · buyer {BUYER.id} · awaiting payment → cancelled" in texts(calls)[0]
