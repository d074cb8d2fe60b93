"""Voucher codes through the real Dispatcher on both databases: entered in the cart or through a deep link,
shown on the cart, the checkout, the invoice, both order views and the CSV, a use taken at checkout and given
back on expiry and cancel; every kind of bad code explained, changing nothing."""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiogram.methods import SendDocument, SendPhoto
from sqlalchemy import select

from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.admin.stats import StatsAction, StatsCb
from handlers.callbacks import CartAction, CartCb, OrderAction, OrderCb, PayCb, ProductAction, ProductCb
from models.enums import Chain, OrderStatus, VoucherKind
from models.orders import Invoice
from models.shop import User
from models.types import utcnow
from services.admin.stats import Period
from services.money import amount_due
from tests.admin_flow import ADMIN, alerts, audit, cancel, expire_overdue, one
from tests.promo import orders, promo_tables, seed_voucher, voucher_state
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

ALICE = Person(id=501, first_name="Alice", username="alice")
BOB = Person(id=502, first_name="Bob", username="bob")


async def enter_code(tg: Telegram, person: Person, code: str) -> list[Any]:
    await tg.press(person, CartCb(action=CartAction.code))
    return await tg.send(person, code)


async def test_a_code_from_the_cart_to_the_invoice_and_its_use_back_on_expiry(tg: Telegram, sessions, settings):
    product = await seed_product(sessions, units=5)
    await seed_voucher(sessions, "SUMMER10", max_uses=1)

    await tg.send(ALICE, "/start")
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=2))
    calls = await tg.press(ALICE, CartCb(action=CartAction.view))
    assert "🎟 Enter a voucher code" in buttons(calls)
    calls = await tg.press(ALICE, buttons(calls)["🎟 Enter a voucher code"])
    assert texts(calls) == ["🎟 Send your voucher code in one message."]
    calls = await tg.send(ALICE, " summer10 ")  # typed as people type it
    assert texts(calls) == [
        "✅ Code SUMMER10 is on your cart.\n\n<b>Your cart</b>\nEditor Pro 1y: 2 × 12.50 USD = 25.00 USD\n"
        "Items: 25.00 USD\nCode SUMMER10: −2.50 USD\nTotal: 22.50 USD"
    ]
    assert "✖ Remove code SUMMER10" in buttons(calls)
    assert await voucher_state(sessions, "SUMMER10") == (0, 0, 1)  # on the cart, not yet used

    calls = await tg.press(ALICE, CartCb(action=CartAction.checkout))
    assert texts(calls) == ["Items: 25.00 USD\nCode SUMMER10: −2.50 USD\nTotal 22.50 USD. Pay with:"]
    calls = await tg.press(ALICE, PayCb(chain=Chain.btc))
    caption = next(c for c in calls if isinstance(c, SendPhoto)).caption or ""
    assert "Total 22.50 USD at 60000.00 USD per BTC" in caption
    assert caption.endswith("\nItems: 25.00 USD\nCode SUMMER10: −2.50 USD")

    (order,) = await orders(sessions)
    assert (order.subtotal_minor, order.voucher_code, order.voucher_discount_minor, order.total_minor) == (
        2500,
        "SUMMER10",
        250,
        2250,
    )
    invoice = await one(sessions, select(Invoice).where(Invoice.order_id == order.id))
    assert invoice.amount_due == amount_due(Chain.btc, Decimal("22.50"), invoice.rate)  # from the final total
    assert await voucher_state(sessions, "SUMMER10") == (1, 1, 0)  # used by the order, off the cart

    # the same breakdown in the admin's order view and the CSV (and the buyer's order detail, below)
    admin_view = texts(await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=order.id)))[0]
    assert "Editor Pro 1y × 2 · 12.50 USD\nItems: 25.00 USD\nCode SUMMER10: −2.50 USD\nTotal: 22.50 USD" in admin_view
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.export, period=Period.month))
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    (row,) = csv.DictReader(io.StringIO(document.document.data.decode()))  # type: ignore[union-attr]
    assert (row["fiat_total"], row["subtotal_fiat"], row["voucher"], row["voucher_discount_fiat"]) == (
        "22.50",
        "25.00",
        "SUMMER10",
        "2.50",
    )
    assert (row["reseller_discount_fiat"], row["tier"], row["tier_discount_fiat"], row["coin_fee_fiat"]) == (
        "0.00",
        "",
        "0.00",
        "0.00",
    )

    # used up: Bob is told so, and nothing changes
    await tg.press(BOB, ProductCb(action=ProductAction.add, id=product, qty=1))
    calls = await enter_code(tg, BOB, "SUMMER10")
    assert texts(calls) == ["The code SUMMER10 has been used up.\nSend another code, or go back."]
    assert await voucher_state(sessions, "SUMMER10") == (1, 1, 0)

    # Alice's order expires unpaid: the use comes back, once, and Bob may use the code now
    await expire_overdue(sessions, settings, order.id)
    assert (await orders(sessions))[0].status is OrderStatus.expired
    detail = texts(await tg.press(ALICE, OrderCb(action=OrderAction.view, id=order.id)))[0]
    assert "Editor Pro 1y × 2 · 12.50 USD\nItems: 25.00 USD\nCode SUMMER10: −2.50 USD\nTotal: 22.50 USD" in detail
    assert await voucher_state(sessions, "SUMMER10") == (0, 0, 0)
    (expiry,) = [a for a in await audit(sessions, order.id) if a.action == "order.expire"]
    assert (expiry.after or {})["voucher_returned"] == "SUMMER10"
    await expire_overdue(sessions, settings, order.id)
    assert await voucher_state(sessions, "SUMMER10") == (0, 0, 0)
    calls = await tg.send(BOB, "SUMMER10")  # still at the prompt
    assert texts(calls)[0].startswith("✅ Code SUMMER10 is on your cart.")


async def test_a_cancelled_order_gives_its_use_back(tg: Telegram, sessions) -> None:
    product = await seed_product(sessions, units=5)
    await seed_voucher(sessions, "ONCE", kind=VoucherKind.fixed, value=300, max_uses=1, per_buyer=1)
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=1))
    await enter_code(tg, ALICE, "ONCE")
    await tg.press(ALICE, PayCb(chain=Chain.ltc))
    (order,) = await orders(sessions)
    assert (order.voucher_discount_minor, order.total_minor) == (300, 950)
    assert await voucher_state(sessions, "ONCE") == (1, 1, 0)
    await cancel(tg, ALICE, order.id)
    assert await voucher_state(sessions, "ONCE") == (0, 0, 0)
    # the buyer's own use is back too: per_buyer=1 lets her use it again
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=1))
    assert texts(await enter_code(tg, ALICE, "ONCE"))[0].startswith("✅ Code ONCE is on your cart.")


async def test_a_deep_link_puts_the_code_on_the_cart(tg: Telegram, sessions) -> None:
    product = await seed_product(sessions, units=5)
    await seed_voucher(sessions, "WELCOME-5", kind=VoucherKind.fixed, value=500)
    calls = await tg.send(ALICE, "/start v_welcome-5")
    assert "🎟 Code WELCOME-5 is saved: it applies to your cart at checkout." in texts(calls)
    assert next(iter(buttons(calls))) == "🛍 Shop"  # and then the menu, as always
    calls = await tg.press(ALICE, CartCb(action=CartAction.view))
    assert texts(calls) == ["Your cart is empty.\n\n🎟 Code WELCOME-5 is waiting for your cart."]
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=1))
    calls = await tg.press(ALICE, CartCb(action=CartAction.view))
    assert texts(calls)[0].endswith("Items: 12.50 USD\nCode WELCOME-5: −5.00 USD\nTotal: 7.50 USD")
    calls = await tg.press(ALICE, buttons(calls)["✖ Remove code WELCOME-5"])
    assert texts(calls)[0].endswith("Editor Pro 1y: 1 × 12.50 USD = 12.50 USD\nTotal: 12.50 USD")
    calls = await tg.send(ALICE, "/start v_WELCOME-5")  # with something in the cart
    assert "🎟 Code WELCOME-5 is on your cart." in texts(calls)


async def test_bad_codes_are_explained_and_change_nothing(tg: Telegram, sessions) -> None:
    software = await seed_product(sessions, units=5)
    mug = await seed_product(sessions, name="Mug", category="Kitchen", subcategory="Mugs", units=5)
    now = utcnow()
    await seed_voucher(sessions, "OLD", valid_until=now - timedelta(days=1))
    await seed_voucher(sessions, "SOON", valid_from=now + timedelta(days=3))
    await seed_voucher(sessions, "GONE", max_uses=0)
    await seed_voucher(sessions, "OFF", is_active=False)
    await seed_voucher(sessions, "MUGS", product_id=mug)
    await seed_voucher(sessions, "BIG", min_order_minor=10_000)
    async with sessions.begin() as s:  # someone else's referral reward looks exactly like a missing code
        s.add(User(telegram_id=999, language="en"))
        await s.flush()
        owner = (await s.execute(select(User.id).where(User.telegram_id == 999))).scalar_one()
    await seed_voucher(sessions, "R-THEIRS", owner_id=owner)
    await tg.send(ALICE, "/start")
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=software, qty=1))
    before = await promo_tables(sessions)
    expected = {
        "NOPE": "There is no voucher with the code NOPE.",
        "R-THEIRS": "There is no voucher with the code R-THEIRS.",
        "OLD": f"The code OLD has expired: it was valid until {now - timedelta(days=1):%Y-%m-%d}.",
        "SOON": f"The code SOON is valid from {now + timedelta(days=3):%Y-%m-%d} (UTC).",
        "GONE": "The code GONE has been used up.",
        "OFF": "The code OFF is no longer valid.",
        "MUGS": "The code MUGS is only for Mug, and your cart holds none of it.",
        "BIG": "The code BIG needs an order of at least 100.00 USD.",
        "no spaces please": "That is not a voucher code: a code has 3 to 32 letters, digits or dashes.",
        "<b>x</b>": "That is not a voucher code: a code has 3 to 32 letters, digits or dashes.",
        "X" * 33: "That is not a voucher code: a code has 3 to 32 letters, digits or dashes.",
    }
    await tg.press(ALICE, CartCb(action=CartAction.code))
    for code, reason in expected.items():
        assert texts(await tg.send(ALICE, code)) == [f"{reason}\nSend another code, or go back."], code
        await tg.send(ALICE, "/start")
        calls = await tg.send(ALICE, f"/start v_{code}")
        assert reason in texts(calls), code
        await tg.press(ALICE, CartCb(action=CartAction.code))
    assert await promo_tables(sessions) == before
    # the prompt ends with any button; the cart is as it was
    calls = await tg.press(ALICE, CartCb(action=CartAction.view))
    assert texts(calls) == ["<b>Your cart</b>\nEditor Pro 1y: 1 × 12.50 USD = 12.50 USD\nTotal: 12.50 USD"]


async def test_a_code_that_stopped_applying_is_taken_off_at_checkout_and_the_price_shown_without_it(
    tg: Telegram, sessions
) -> None:
    product = await seed_product(sessions, units=5)
    voucher = await seed_voucher(sessions, "LAST", max_uses=1)
    for person in (ALICE, BOB):
        await tg.press(person, ProductCb(action=ProductAction.add, id=product, qty=1))
        await enter_code(tg, person, "LAST")
        await tg.press(person, CartCb(action=CartAction.checkout))
    await tg.press(ALICE, PayCb(chain=Chain.btc))  # Alice takes the last use
    calls = await tg.press(BOB, PayCb(chain=Chain.btc))
    assert alerts(calls) == [
        "The code LAST has been used up.\nIt was taken off your cart; here is the price without it."
    ]
    assert "Total 12.50 USD. Pay with:" in texts(calls)
    assert len(await orders(sessions)) == 1  # Bob's checkout placed nothing
    assert await voucher_state(sessions, "LAST") == (1, 1, 0)
    calls = await tg.press(BOB, PayCb(chain=Chain.btc))  # now at the price he was shown
    assert [o.total_minor for o in await orders(sessions)] == [1125, 1250]
    assert voucher
