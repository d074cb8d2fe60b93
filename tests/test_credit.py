"""Store credit through the real Dispatcher on both databases: an admin adjusts a buyer's credit with a reason,
the buyer applies it at checkout (part of the order, with the coin's fee only on the rest; or all of it, paid and
delivered at once without an invoice), gets it back when the order expires or is cancelled unpaid, and reads
balance and history on My account; the admin's ledger view and the ledger CSV; bad input changes nothing. And
the pricing step itself, as a property."""

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from aiogram.methods import SendDocument, SendPhoto
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from handlers.admin.stats import StatsAction, StatsCb
from handlers.admin.users import AdminCreditCb, CreditAction, UserAction, UsersCb
from handlers.callbacks import (
    AccountAction,
    AccountCb,
    CartAction,
    CartCb,
    MenuAction,
    MenuCb,
    PayCb,
    PrivacyAction,
    PrivacyCb,
    ProductAction,
    ProductCb,
    ShipAction,
    ShipCb,
)
from models.credit import CreditEntry
from models.enums import Chain, OrderStatus, StockStatus
from models.orders import Invoice, Order
from models.shop import User
from services.money import amount_due
from services.pricing import price
from tests.admin_flow import ADMIN, alerts, audit, cancel, expire_overdue, one, order, outbox, rows, units
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_pricing import buyer_st, fee_st, lines_st, shipping_st, voucher_st
from tests.test_privacy import my_data

ALICE = Person(id=501, first_name="Alice", username="alice")
BOB = Person(id=502, first_name="Bob", username="bob")


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"coin_fees": {Chain.eth: Decimal(2)}})


async def user_id(sessions, person: Person) -> int:
    return int(await one(sessions, select(User.id).where(User.telegram_id == person.id)))


async def adjust(tg: Telegram, sessions, person: Person, line: str) -> list[Any]:
    """Users → the buyer's card → 💳 Store credit → ± Adjust credit, then the line."""
    uid = await user_id(sessions, person)
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.card, id=uid))
    calls = await tg.press(ADMIN, buttons(calls)["💳 Store credit"])
    calls = await tg.press(ADMIN, buttons(calls)["± Adjust credit"])
    assert texts(calls)[0].startswith("Balance: ")
    return await tg.send(ADMIN, line)


async def ledger(sessions, person: Person) -> list[tuple[str, int, int, int | None]]:
    uid = await user_id(sessions, person)
    return [
        (k.value, a, after, o)
        for k, a, after, o in await rows(
            sessions,
            select(CreditEntry.kind, CreditEntry.amount_minor, CreditEntry.balance_after_minor, CreditEntry.order_id)
            .where(CreditEntry.user_id == uid)
            .order_by(CreditEntry.id),
        )
    ]


async def test_part_of_an_order_paid_with_credit_and_given_back_on_cancel_and_expiry(
    tg: Telegram, sessions, settings
) -> None:
    product = await seed_product(sessions, units=5)
    await tg.send(ALICE, "/start")
    calls = await adjust(tg, sessions, ALICE, "+5.00 sorry for the wait")
    assert texts(calls)[0].startswith("✅ Credit adjusted. Balance: 5.00 USD.\n\n💳 <b>Store credit of user #")
    assert "changed by the shop · +5.00 USD → 5.00 USD\n    by admin:900000001 · sorry for the wait" in texts(calls)[0]
    (told,) = await outbox(sessions, "credit_adjusted")
    assert told == (ALICE.id, None, {"amount": "+5.00 USD", "balance": "5.00 USD"})

    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=1))
    calls = await tg.press(ALICE, CartCb(action=CartAction.checkout))
    assert texts(calls) == ["Total 12.50 USD. Pay with:\n\n💳 You have 5.00 USD of store credit."]
    assert "💳 Use store credit (5.00 USD)" in buttons(calls)
    calls = await tg.press(ALICE, buttons(calls)["💳 Use store credit (5.00 USD)"])
    assert texts(calls) == ["Items: 12.50 USD\nStore credit: −5.00 USD\nTotal 7.50 USD. Pay with:"]
    labels = buttons(calls)
    assert "ETH · 7.65 USD (+2 % fee)" in labels  # the coin's fee is on what the coin pays, not on the credit
    assert "✖ Don't use store credit (5.00 USD)" in labels and "✅ Pay with store credit" not in labels
    calls = await tg.press(ALICE, PayCb(chain=Chain.btc, credit=True))
    caption = next(c for c in calls if isinstance(c, SendPhoto)).caption or ""
    assert "Total 7.50 USD at 60000.00 USD per BTC" in caption
    assert caption.endswith("\nItems: 12.50 USD\nStore credit: −5.00 USD")
    first = await order(sessions, await one(sessions, select(Order.id)))
    assert (first.subtotal_minor, first.credit_minor, first.total_minor) == (1250, 500, 750)
    invoice = await one(sessions, select(Invoice).where(Invoice.order_id == first.id))
    assert invoice.amount_due == amount_due(Chain.btc, Decimal("7.50"), invoice.rate)
    assert await ledger(sessions, ALICE) == [("admin_adjustment", 500, 500, None), ("spend", -500, 0, first.id)]

    await cancel(tg, ALICE, first.id)  # the cart is refilled; the credit is back, once
    await cancel(tg, ALICE, first.id)
    assert await ledger(sessions, ALICE) == [
        ("admin_adjustment", 500, 500, None),
        ("spend", -500, 0, first.id),
        ("give_back", 500, 500, first.id),
    ]
    (cancelled,) = [a for a in await audit(sessions, first.id) if a.action == "order.cancel"]
    assert (cancelled.after or {})["credit_returned_minor"] == 500

    calls = await tg.press(ALICE, PayCb(chain=Chain.ltc, credit=True))
    second = await one(sessions, select(Order.id).where(Order.id != first.id))
    await expire_overdue(sessions, settings, second)
    await expire_overdue(sessions, settings, second)
    assert [k for k, *_ in await ledger(sessions, ALICE)][-2:] == ["spend", "give_back"]
    assert (await ledger(sessions, ALICE))[-1] == ("give_back", 500, 500, second)

    # My account: the balance and the history, newest first
    calls = await tg.press(ALICE, MenuCb(action=MenuAction.account))
    assert "💳 Store credit: 5.00 USD. Spend it at checkout; it cannot be paid out." in texts(calls)[0]
    calls = await tg.press(ALICE, buttons(calls)["💳 Store credit history"])
    history = texts(calls)[0].split("\n")
    assert history[:3] == ["💳 <b>Store credit</b>", "", "Balance: 5.00 USD"]
    assert history[4].endswith(f"· returned (order not paid) · order #{second} · +5.00 USD → 5.00 USD")
    assert history[-1].endswith("· changed by the shop · +5.00 USD → 5.00 USD")
    assert "sorry for the wait" not in texts(calls)[0]  # the reason is the shop's own


async def test_an_order_credit_pays_entirely_is_paid_and_delivered_without_an_invoice(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    await tg.send(ALICE, "/start")
    await adjust(tg, sessions, ALICE, "+20.00 refund for #7")
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=1))
    calls = await tg.press(ALICE, ShipCb(action=ShipAction.option, credit=True))
    assert texts(calls) == [
        "Items: 12.50 USD\nStore credit: −12.50 USD\nYour store credit pays all of it: nothing to pay in coins."
    ]
    assert list(buttons(calls)) == ["✅ Pay with store credit", "✖ Don't use store credit (20.00 USD)", "⬅ Back"]
    calls = await tg.press(ALICE, buttons(calls)["✅ Pay with store credit"])
    assert not [c for c in calls if isinstance(c, SendPhoto)]  # no invoice
    placed = await order(sessions, await one(sessions, select(Order.id)))
    assert (placed.status, placed.credit_minor, placed.total_minor, placed.paid_at is not None) == (
        OrderStatus.paid,
        1250,
        0,
        True,
    )
    assert await rows(sessions, select(Invoice.id)) == []
    assert await units(sessions, StockStatus.sold, placed.id) == 1
    actions = [(a.action, a.actor, a.reason) for a in await audit(sessions, placed.id)]
    assert actions == [
        ("order.place", f"buyer:{ALICE.id}", None),
        ("order.paid", f"buyer:{ALICE.id}", "paid with store credit"),
    ]
    assert [(chat, o) for chat, o, _ in await outbox(sessions, "paid")] == [(ALICE.id, placed.id)]  # the goods
    assert [o for _, o, _ in await outbox(sessions, "admin.paid")] == [placed.id]
    assert await ledger(sessions, ALICE) == [("admin_adjustment", 2000, 2000, None), ("spend", -1250, 750, placed.id)]
    detail = texts(calls)[-1]
    assert "Items: 12.50 USD\nStore credit: −12.50 USD\nTotal: 0.00 USD" in detail

    # the CSV of orders shows the credit; the ledger CSV every entry
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.export))
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    (row,) = csv.DictReader(io.StringIO(document.document.data.decode()))  # type: ignore[union-attr]
    assert (row["fiat_total"], row["credit_fiat"], row["chain"]) == ("0.00", "12.50", "")
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.ledger))
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    entries = list(csv.DictReader(io.StringIO(document.document.data.decode())))  # type: ignore[union-attr]
    assert [(e["kind"], e["amount_fiat"], e["balance_before_fiat"], e["balance_after_fiat"]) for e in entries] == [
        ("admin_adjustment", "20.00", "0.00", "20.00"),
        ("spend", "-12.50", "20.00", "7.50"),
    ]
    assert (entries[0]["telegram_id"], entries[0]["reason"], entries[1]["order_id"]) == (
        str(ALICE.id),
        "refund for #7",
        str(placed.id),
    )


async def test_credit_that_no_longer_covers_the_order_places_nothing(tg: Telegram, sessions, settings) -> None:
    product = await seed_product(sessions, units=5)
    await tg.send(ALICE, "/start")
    await adjust(tg, sessions, ALICE, "+20.00 goodwill")
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(ALICE, ShipCb(action=ShipAction.option, credit=True))
    await adjust(tg, sessions, ALICE, "-10.00 mistake")  # meanwhile, the shop takes some back
    calls = await tg.press(ALICE, PayCb(chain=None, credit=True))
    assert alerts(calls) == ["Your store credit has changed. Here is the price with what you have now."]
    assert texts(calls)[0] == "Items: 12.50 USD\nStore credit: −10.00 USD\nTotal 2.50 USD. Pay with:"
    calls = await tg.press(ALICE, PayCb(chain=None))  # forged: no coin and no credit
    assert alerts(calls) == ["Your store credit has changed. Here is the price with what you have now."]
    assert await rows(sessions, select(Order.id)) == []
    assert [k for k, *_ in await ledger(sessions, ALICE)] == ["admin_adjustment", "admin_adjustment"]


async def test_admin_adjustments_refuse_bad_input_and_going_below_zero(tg: Telegram, sessions) -> None:
    await tg.send(BOB, "/start")
    calls = await adjust(tg, sessions, BOB, "-1.00 too much")
    assert texts(calls) == ["That would take the credit below zero: the balance is 0.00 USD. Nothing changed."]
    for garbage in ("5.00 no sign", "+5.001 fine", "+5.00", "+abc x"):
        calls = await tg.send(ADMIN, garbage)  # still waiting
        assert texts(calls)[0].startswith("Send a signed amount and a reason")
    calls = await tg.send(ADMIN, "+3.00 welcome")
    assert texts(calls)[0].startswith("✅ Credit adjusted. Balance: 3.00 USD.")
    assert await ledger(sessions, BOB) == [("admin_adjustment", 300, 300, None)]
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.card, id=await user_id(sessions, BOB)))
    assert "Store credit: 3.00 USD" in texts(calls)[0]
    for action in CreditAction:  # a forged button for nobody
        calls = await tg.press(ADMIN, AdminCreditCb(action=action, id=2**31 - 1))
        assert alerts(calls) == ["That user no longer exists."]
    assert len(await rows(sessions, select(CreditEntry.id))) == 1


async def test_the_history_is_paged(tg: Telegram, sessions) -> None:
    await tg.send(ALICE, "/start")
    for n in range(12):
        await adjust(tg, sessions, ALICE, f"+1.00 bonus {n}")
    calls = await tg.press(ALICE, AccountCb(action=AccountAction.credit))
    assert texts(calls)[0].count("changed by the shop") == 10 and "Balance: 12.00 USD" in texts(calls)[0]
    assert "▶" in buttons(calls) and "◀" not in buttons(calls)
    calls = await tg.press(ALICE, AccountCb(action=AccountAction.credit, page=1))
    assert texts(calls)[0].count("changed by the shop") == 2 and "◀" in buttons(calls)
    calls = await tg.press(ADMIN, AdminCreditCb(action=CreditAction.ledger, id=await user_id(sessions, ALICE), page=1))
    assert texts(calls)[0].count("changed by the shop") == 2 and "bonus 0" in texts(calls)[0]


@hypothesis_settings(max_examples=500, deadline=None)
@given(
    lines=lines_st,
    buyer=buyer_st,
    voucher=voucher_st,
    fee=fee_st,
    shipping=shipping_st,
    credit=st.integers(0, 10**6),
)
def test_credit_pays_goods_then_shipping_and_the_steps_add_up(lines, buyer, voucher, fee, shipping, credit) -> None:
    without = price(lines, buyer, voucher, 0, shipping)
    b = price(lines, buyer, voucher, fee, shipping, credit)
    steps = b.subtotal - b.reseller_discount - b.tier_discount - b.voucher_discount - b.credit + b.coin_fee + b.shipping
    assert steps == b.total >= 0
    assert b.credit == min(credit, without.total)  # never more than the order costs
    if b.credit >= without.goods:  # the goods paid with credit: no coin, no fee, the rest is shipping
        assert b.coin_fee == 0 and b.total == without.total - b.credit
    if fee == 0:
        assert b.total == without.total - b.credit
    assert price(lines, buyer, voucher, fee, shipping, 0) == price(lines, buyer, voucher, fee, shipping)


async def test_mydata_lists_the_credit_and_deleteme_keeps_it(tg: Telegram, sessions) -> None:
    await tg.send(BOB, "/start")
    await adjust(tg, sessions, BOB, "+4.00 late parcel")
    data = await my_data(tg, BOB)
    (entry,) = data["store_credit"]["entries"]
    assert data["store_credit"]["balance"] == "4.00"
    assert (entry["kind"], entry["amount"], entry["balance_after"], entry["reason"]) == (
        "admin_adjustment",
        "4.00",
        "4.00",
        "late parcel",
    )
    await tg.send(BOB, "/deleteme")
    await tg.press(BOB, PrivacyCb(action=PrivacyAction.erase))
    assert await ledger(sessions, BOB) == [("admin_adjustment", 400, 400, None)]  # the shop's accounts keep it
