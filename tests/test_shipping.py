"""Shipping through the real Dispatcher: the admin's options, the buyer's address and option at checkout, the
price with shipping, "ready for shipment" with the address, tracking for the buyer, changing the address
until paid; and the address sealed everywhere it rests (database, logs, backups) until it is erased."""

import csv
import io
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendDocument, SendPhoto
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.__main__ import main
from bot.factory import create_bot, create_dispatcher
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.admin.shipping import ShipOptAction, ShipOptCb
from handlers.admin.stats import StatsAction, StatsCb
from handlers.callbacks import (
    CartAction,
    CartCb,
    MenuAction,
    MenuCb,
    OrderAction,
    OrderCb,
    PayCb,
    ProductAction,
    ProductCb,
    ShipAction,
    ShipCb,
)
from models.database import _sqlite_on_connect
from models.enums import Chain, OrderProblem, OrderStatus, ProductKind
from models.ops import AuditLog
from models.orders import Invoice, Order
from models.schema import metadata
from models.shop import ShippingOption
from models.types import utcnow
from services.admin.dto import OrderBucket
from services.admin.stats import Period
from services.money import amount_due
from services.payments.rates import rate_service_from_settings
from services.shop.catalog import NotFound
from services.shop.shipping import ADDRESS_LIMIT
from services.wallet.goods import GoodsCipher
from services.wallet.secretbox import DecryptionError
from tests.admin_flow import ADMIN, alerts, audit, cancel, one, order, pay, place
from tests.conftest import RATES
from tests.keys import WALLET_KEY
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_assets import USDT_ETH

BUYER = Person(id=401, first_name="Paula", username="paula")
# Distinctive enough to scan for, and with HTML's special characters: messages are HTML.
ADDRESS = "Paula Post\nMusterstraße 5 <Hinterhaus-7Q3> & Co\n12345 Berlin"
SHOWN = "Paula Post\nMusterstraße 5 &lt;Hinterhaus-7Q3&gt; &amp; Co\n12345 Berlin"
NEEDLE = "Hinterhaus-7Q3"


async def add_option(tg: Telegram, line: str) -> list[Any]:
    await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.new))
    return await tg.send(ADMIN, line)


async def option_id(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    return int(await one(sessions, select(ShippingOption.id).where(ShippingOption.name == name)))


async def mug(sessions: async_sessionmaker[AsyncSession], units: int = 5) -> int:
    return await seed_product(sessions, name="Mug", kind=ProductKind.physical, units=units)


async def everything_stored(sessions: async_sessionmaker[AsyncSession]) -> str:
    """Every row of every table, as text: what a dump of the database would hold."""
    rows: list[str] = []
    async with sessions() as s:
        for table in metadata.sorted_tables:
            rows += [repr(row) for row in (await s.execute(table.select())).all()]
    return "\n".join(rows)


def sqlite_bytes(path: Path) -> bytes:
    """The database file with its WAL, after a checkpoint that empties the WAL into it (as SQLite does by
    itself as the shop runs)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def backup(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch, db_url: str) -> bytes:
    monkeypatch.setenv("DATABASE_URL", db_url)
    target = tmp_path / name
    assert main(["backup", str(target)]) == 0
    return target.read_bytes()


async def test_a_physical_order_with_an_option_and_an_address_from_checkout_to_erasure(
    tg: Telegram,
    sessions,
    settings,
    goods: GoodsCipher,
    container,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    product = await mug(sessions)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.shipping))
    assert texts(calls)[0].startswith("🚚 <b>Shipping options</b>") and "erased 30 days after" in texts(calls)[0]
    assert texts(await add_option(tg, "Standard 4,90"))[0].startswith("✅ Saved.\n\n<b>Standard</b> · 4.90 USD")
    await add_option(tg, "Express 12.00")
    express = await option_id(sessions, "Express")

    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=2))
    calls = await tg.press(BUYER, CartCb(action=CartAction.checkout))
    assert texts(calls)[0].startswith("📦 <b>Where should we send it?</b>\nSend the full postal address")
    assert list(buttons(calls)) == ["⬅ Back"]  # no address given before: nothing to offer again
    calls = await tg.send(BUYER, ADDRESS)
    assert texts(calls) == [f"📦 Ship to:\n{SHOWN}\n\nHow should it be shipped?"]
    assert list(buttons(calls)) == ["Standard · 4.90 USD", "Express · 12.00 USD", "✏ Change address", "⬅ Back"]
    calls = await tg.press(BUYER, buttons(calls)["Express · 12.00 USD"])
    assert texts(calls) == [
        f"📦 Ship to:\n{SHOWN}\n\nItems 25.00 USD + shipping (Express) 12.00 USD = total <b>37.00 USD</b>. Pay with:"
    ]
    assert buttons(calls)["BTC"] == PayCb(chain=Chain.btc, ship=express).pack()
    calls = await tg.press(BUYER, buttons(calls)["BTC"])
    caption = next(c for c in calls if isinstance(c, SendPhoto)).caption or ""
    assert "Total 37.00 USD at" in caption and caption.endswith("\nShipping: Express · 12.00 USD (in the total)")
    assert "✏ Change shipping address" in buttons(calls)

    placed = await order(sessions, await one(sessions, select(func.max(Order.id))))
    assert (placed.shipping_name, placed.shipping_minor, placed.total_minor) == ("Express", 1200, 3700)
    invoice = await one(sessions, select(Invoice).where(Invoice.order_id == placed.id))
    assert invoice.amount_due == amount_due(Chain.btc, Decimal("37.00"), invoice.rate)  # shipping before the rate
    assert placed.address_enc is not None and goods.open_address(placed.address_enc, placed.id) == ADDRESS
    sealed = placed.address_enc

    await pay(sessions, settings, placed.id)  # the observer's own path
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.list, bucket=OrderBucket.ready))
    assert texts(calls)[0] == (
        f"<b>📦 Ready for shipment</b>, page 1. Newest first:\n\n<b>#{placed.id}</b> · Express\n📮 Ship to:\n{SHOWN}"
    )
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=placed.id))
    assert "Mug × 2 · 12.50 USD\nShipping: Express · 12.00 USD\nTotal: 37.00 USD" in texts(calls)[0]
    assert f"\n\n📮 Ship to:\n{SHOWN}\n\n" in texts(calls)[0]
    await tg.press(ADMIN, buttons(calls)["🚚 Mark shipped"])
    await tg.send(ADMIN, "DHL 0034 0434")
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=placed.id))
    detail = texts(calls)[0]
    assert "Total: 37.00 USD" in detail and f"Shipping: Express · 12.00 USD\n📦 Ship to:\n{SHOWN}" in detail
    assert detail.endswith("\n\n🚚 Tracking: DHL 0034 0434")

    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.export, period=Period.month))
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    (row,) = csv.DictReader(io.StringIO(document.document.data.decode()))  # type: ignore[union-attr]
    assert (row["fiat_total"], row["shipping"], row["shipping_fiat"], row["shipping_address"]) == (
        "37.00",
        "Express",
        "12.00",
        ADDRESS,
    )

    # Sealed wherever it rests: the database (every row, and the file itself), the logs, a backup.
    assert NEEDLE not in await everything_stored(sessions)
    assert NEEDLE not in caplog.text
    if settings.sqlite_path is not None:
        assert NEEDLE.encode() not in sqlite_bytes(settings.sqlite_path)
        assert NEEDLE.encode() not in backup(tmp_path, "before.db", monkeypatch, db_url)

    # ADDRESS_RETENTION_DAYS after shipping, the scheduler's job erases it: NULL, not hidden.
    async with sessions.begin() as s:
        await s.execute(update(Order).where(Order.id == placed.id).values(shipped_at=utcnow() - timedelta(days=29)))
    await container.observer.erase_addresses()
    assert (await order(sessions, placed.id)).address_enc == sealed  # not yet
    async with sessions.begin() as s:
        await s.execute(update(Order).where(Order.id == placed.id).values(shipped_at=utcnow() - timedelta(days=31)))
    await container.observer.erase_addresses()
    await container.observer.erase_addresses()  # twice: nothing more happens
    erased = await order(sessions, placed.id)
    assert erased.address_enc is None and erased.address_erased_at is not None
    (row_erased,) = [a for a in await audit(sessions, placed.id) if a.action == "order.address_erased"]
    assert (row_erased.actor, row_erased.after) == ("retention", {"retention_days": 30})
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=placed.id))
    assert f"📦 The shipping address was erased on {erased.address_erased_at:%Y-%m-%d}." in texts(calls)[0]
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=placed.id))
    assert "📮 Shipping address erased" in texts(calls)[0] and "shipping address erased · retention" in texts(calls)[0]
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.export, period=Period.month))
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    assert next(csv.DictReader(io.StringIO(document.document.data.decode())))["shipping_address"] == ""  # type: ignore[union-attr]
    stored = await everything_stored(sessions)
    assert repr(sealed) not in stored and NEEDLE not in stored
    if settings.sqlite_path is not None:  # gone from the file, not just from the column
        assert sealed[1:17] not in sqlite_bytes(settings.sqlite_path)
        assert sealed[1:17] not in backup(tmp_path, "after.db", monkeypatch, db_url)
    assert NEEDLE not in caplog.text


async def test_a_physical_cart_paid_in_a_token_prices_its_shipping_in_the_token(
    container, sessions, settings, wallet, goods: GoodsCipher
) -> None:
    """Shipping and stablecoins together: the token's button carries the option, the invoice is the total
    with shipping in the token's own units, and taking what is left keeps the token and the option."""
    rate = Decimal("0.9998")
    token_settings = settings.model_copy(update={"rates_fixed": RATES | {"USDT": rate}})
    shop = replace(
        container,
        settings=token_settings,
        wallet=replace(wallet, tokens=(USDT_ETH,)),
        rates=rate_service_from_settings(token_settings),
    )
    recording = RecordingSession()
    tg = Telegram(
        dp=create_dispatcher(shop, MemoryStorage()), bot=create_bot(token_settings, recording), session=recording
    )
    product = await mug(sessions, units=2)
    await add_option(tg, "Express 12.00")
    express = await option_id(sessions, "Express")
    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=2))
    await tg.press(BUYER, CartCb(action=CartAction.checkout))
    await tg.send(BUYER, ADDRESS)
    calls = await tg.press(BUYER, ShipCb(action=ShipAction.option, id=express))
    assert buttons(calls)["USDT · Ethereum"] == PayCb(chain=Chain.eth, token="USDT", ship=express).pack()
    await place(tg, sessions, Person(id=402), product, option=express)  # one of the two mugs goes meanwhile

    calls = await tg.press(BUYER, buttons(calls)["USDT · Ethereum"])
    take = buttons(calls)["✂ Take what is left and go on"]
    assert take == PayCb(chain=Chain.eth, token="USDT", ship=express, trim=True).pack()
    calls = await tg.press(BUYER, take)
    caption = next(c for c in calls if isinstance(c, SendPhoto)).caption or ""
    assert "USDT" in caption and "\nShipping: Express · 12.00 USD (in the total)" in caption
    placed = await order(sessions, await one(sessions, select(func.max(Order.id))))
    assert (placed.shipping_name, placed.shipping_minor, placed.total_minor) == ("Express", 1200, 2450)
    invoice = await one(sessions, select(Invoice).where(Invoice.order_id == placed.id))
    assert (invoice.chain, invoice.asset, invoice.token, invoice.decimals) == (Chain.eth, "USDT", USDT_ETH.token, 6)
    assert (invoice.rate, invoice.amount_due) == (rate, amount_due(USDT_ETH, Decimal("24.50"), rate))
    assert placed.address_enc is not None and goods.open_address(placed.address_enc, placed.id) == ADDRESS


async def test_the_retention_job_erases_only_what_is_due(tg: Telegram, sessions, goods, container) -> None:
    product = await mug(sessions, units=6)
    buyers = [Person(id=410 + n) for n in range(4)]
    ids = [await place(tg, sessions, b, product, address=f"{b.id} Street") for b in buyers]
    shipped_long_ago, paid_unshipped, expired_long_ago, cancelled_lately = ids
    old = utcnow() - timedelta(days=40)
    async with sessions.begin() as s:
        for order_id, values in (
            (shipped_long_ago, {"status": OrderStatus.shipped, "shipped_at": old}),
            (paid_unshipped, {"status": OrderStatus.paid, "paid_at": old, "created_at": old}),
            (expired_long_ago, {"status": OrderStatus.expired, "closed_at": old}),
            (cancelled_lately, {"status": OrderStatus.cancelled, "closed_at": utcnow() - timedelta(days=2)}),
        ):
            await s.execute(update(Order).where(Order.id == order_id).values(**values))
    await container.observer.erase_addresses()
    kept = {i: (await order(sessions, i)).address_enc is not None for i in ids}
    assert kept == {shipped_long_ago: False, paid_unshipped: True, expired_long_ago: False, cancelled_lately: True}
    # Closed with money but without goods waits for the admin's decision; closing the problem starts the clock.
    async with sessions.begin() as s:
        await s.execute(
            update(Order)
            .where(Order.id == paid_unshipped)
            .values(status=OrderStatus.paid_late, problem=OrderProblem.paid_late, closed_at=old)
        )
    await container.observer.erase_addresses()
    assert (await order(sessions, paid_unshipped)).address_enc is not None
    async with sessions.begin() as s:
        await s.execute(update(Order).where(Order.id == paid_unshipped).values(problem=None))
    await container.observer.erase_addresses()
    assert (await order(sessions, paid_unshipped)).address_enc is None


async def test_no_option_offered_means_free_shipping_and_the_address_still_asked(tg: Telegram, sessions, goods) -> None:
    product = await mug(sessions)
    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(BUYER, CartCb(action=CartAction.checkout))
    calls = await tg.send(BUYER, ADDRESS)
    assert texts(calls) == [f"📦 Ship to:\n{SHOWN}\n\nTotal 12.50 USD. Pay with:"]
    assert {"BTC", "✏ Change address", "⬅ Back"} <= set(buttons(calls))
    calls = await tg.press(BUYER, buttons(calls)["LTC"])
    assert "Shipping:" not in (next(c for c in calls if isinstance(c, SendPhoto)).caption or "")
    placed = await order(sessions, await one(sessions, select(func.max(Order.id))))
    assert (placed.shipping_name, placed.shipping_minor, placed.total_minor) == (None, 0, 1250)
    assert goods.open_address(placed.address_enc, placed.id) == ADDRESS


async def test_bad_addresses_are_refused_and_the_prompt_is_no_trap(tg: Telegram, sessions) -> None:
    product = await mug(sessions)
    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(BUYER, CartCb(action=CartAction.checkout))
    refused = "Please send the address as one text message of at most 300 characters."
    assert texts(await tg.send(BUYER, "x" * (ADDRESS_LIMIT + 1))) == [refused]
    assert texts(await tg.send(BUYER, "   ")) == [refused]
    photo = {
        "message_id": 77,
        "date": 0,
        "photo": [{"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9}],
        "chat": {"id": BUYER.id, "type": "private", "first_name": "P"},
        "from": BUYER.as_json(),
    }
    assert texts(await tg.feed({"message": photo})) == [refused]
    calls = await tg.send(BUYER, "x" * ADDRESS_LIMIT)  # the longest that fits is taken
    assert texts(calls)[0].startswith("📦 Ship to:\n" + "x" * ADDRESS_LIMIT)

    await tg.press(BUYER, ShipCb(action=ShipAction.address))  # ask again, then walk away with a button
    calls = await tg.press(BUYER, MenuCb(action=MenuAction.orders))
    assert texts(calls) == ["You have no orders yet."]
    assert texts(await tg.send(BUYER, "Elm Street 1")) == ["I did not understand that. Use the buttons below."]
    await tg.press(BUYER, ShipCb(action=ShipAction.address))
    assert texts(await tg.send(BUYER, "/start"))[-1] == "Main menu"  # a command leaves too
    assert await one(sessions, select(func.count()).select_from(Order)) == 0


async def test_forged_disabled_and_missing_choices_never_place_an_order(tg: Telegram, sessions) -> None:
    product = await mug(sessions)
    await add_option(tg, "Standard 4.90")
    await add_option(tg, "Express 12.00")
    standard, express = await option_id(sessions, "Standard"), await option_id(sessions, "Express")
    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=1))

    calls = await tg.press(BUYER, PayCb(chain=Chain.btc))  # a coin button without an address
    assert alerts(calls) == ["Please tell us first where to send your order."]
    assert texts(calls)[0].startswith("📦 <b>Where should we send it?</b>")
    await tg.send(BUYER, ADDRESS)
    for forged in (PayCb(chain=Chain.btc), PayCb(chain=Chain.btc, ship=999), ShipCb(action=ShipAction.option, id=999)):
        calls = await tg.press(BUYER, forged)
        assert alerts(calls) == ["That shipping option is not offered (any more). Please choose again."], forged
        assert list(buttons(calls))[:2] == ["Standard · 4.90 USD", "Express · 12.00 USD"]

    await tg.press(BUYER, ShipCb(action=ShipAction.option, id=express))
    await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.view, id=express))
    calls = await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.disable, id=express))
    assert texts(calls)[0] == "<b>Express</b> · 12.00 USD · 🚫 not offered"
    calls = await tg.press(BUYER, PayCb(chain=Chain.btc, ship=express))  # the button under the price seen
    assert alerts(calls) == ["That shipping option is not offered (any more). Please choose again."]
    assert list(buttons(calls)) == ["Standard · 4.90 USD", "✏ Change address", "⬅ Back"]
    assert await one(sessions, select(func.count()).select_from(Order)) == 0

    calls = await tg.press(BUYER, PayCb(chain=Chain.btc, ship=standard))
    assert any(isinstance(c, SendPhoto) for c in calls)
    placed = await order(sessions, await one(sessions, select(func.max(Order.id))))
    assert (placed.shipping_name, placed.total_minor) == ("Standard", 1250 + 490)


async def test_the_last_address_is_offered_again_and_can_be_changed_until_paid(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await mug(sessions)
    first = await place(tg, sessions, BUYER, product, address=ADDRESS)
    await cancel(tg, BUYER, first)  # the mug goes back into the cart

    calls = await tg.press(BUYER, CartCb(action=CartAction.checkout))
    assert texts(calls)[0].endswith(f"\n\nOr use the address you gave before:\n{SHOWN}")
    calls = await tg.press(BUYER, buttons(calls)["✅ Use this address"])
    assert texts(calls)[0].startswith(f"📦 Ship to:\n{SHOWN}\n\nTotal 12.50 USD.")
    calls = await tg.press(BUYER, buttons(calls)["BTC"])
    second = int(await one(sessions, select(func.max(Order.id))))
    assert second != first and goods.open_address((await order(sessions, second)).address_enc, second) == ADDRESS

    calls = await tg.press(BUYER, buttons(calls)["✏ Change shipping address"])
    assert texts(calls) == [f"Order #{second}: send the new shipping address in one message (at most 300 characters)."]
    calls = await tg.send(BUYER, "Paula Post\nNeue Allee 9\n10115 Berlin")
    assert texts(calls)[0].startswith(
        f"✅ The shipping address of order #{second} is changed.\n\n<b>Order #{second}</b>"
    )
    assert "📦 Ship to:\nPaula Post\nNeue Allee 9\n10115 Berlin" in texts(calls)[0]
    moved = await order(sessions, second)
    assert goods.open_address(moved.address_enc, second) == "Paula Post\nNeue Allee 9\n10115 Berlin"
    (changed,) = [a for a in await audit(sessions, second) if a.action == "order.address"]
    assert (changed.actor, changed.after) == (f"buyer:{BUYER.id}", {"status": "awaiting_payment"})
    assert "Neue Allee" not in await everything_stored(sessions)

    mallory = Person(id=499)
    calls = await tg.press(mallory, OrderCb(action=OrderAction.address, id=second))
    assert alerts(calls) == ["This button is out of date. Here is the current view."]

    await tg.press(BUYER, OrderCb(action=OrderAction.address, id=second))
    await pay(sessions, settings, second)
    calls = await tg.send(BUYER, "Too late Lane 1")  # the prompt was open when the payment came
    assert (
        texts(calls)[0] == "This order is paid, so its address can no longer be changed here. Please write to support."
    )
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=second))
    assert "✏ Change shipping address" not in buttons(calls)
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.address, id=second))
    assert alerts(calls) == [
        "This order is paid, so its address can no longer be changed here. Please write to support."
    ]
    assert "Neue Allee" in goods.open_address((await order(sessions, second)).address_enc, second)


async def test_admin_shipping_options_are_checked_and_audited(tg: Telegram, sessions) -> None:
    refused = "That does not work: send a name of at most 64 characters"
    for bad in ("Express", "12.00", "Express 1.234", "Express -3", "Express 1e3", "x" * 65 + " 1"):
        assert texts(await add_option(tg, bad))[0].startswith(refused), bad
        await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.list))  # leaves the prompt
    await add_option(tg, "Pickup at the shop 0")
    assert texts(await add_option(tg, "Pickup at the shop 3"))[0].startswith(refused)  # the name is taken
    pickup = await option_id(sessions, "Pickup at the shop")
    await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.edit, id=pickup))
    calls = await tg.send(ADMIN, "Pickup  at   the door 1.5")
    assert texts(calls)[0] == "✅ Saved.\n\n<b>Pickup at the door</b> · 1.50 USD · offered to buyers"
    calls = await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.disable, id=pickup))
    calls = await tg.press(ADMIN, buttons(calls)["✅ Offer again"])
    assert texts(calls)[0].endswith("· offered to buyers")
    calls = await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.list))
    assert "Pickup at the door · 1.50 USD" in buttons(calls)
    found = [a for (a,) in await rows_of(sessions, AuditLog.entity == "shipping_option")]
    assert [(a.action, a.before, a.after) for a in found] == [
        ("shipping.create", None, {"name": "Pickup at the shop", "price_minor": 0}),
        (
            "shipping.update",
            {"name": "Pickup at the shop", "price_minor": 0},
            {"name": "Pickup at the door", "price_minor": 150},
        ),
        ("shipping.disable", {"is_active": True}, {"is_active": False}),
        ("shipping.enable", {"is_active": False}, {"is_active": True}),
    ]
    assert all(a.actor == f"admin:{ADMIN.id}" for a in found)
    calls = await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.view, id=999))
    assert alerts(calls) == ["That shipping option no longer exists."]
    calls = await tg.press(Person(id=498), ShipOptCb(action=ShipOptAction.new))  # not an admin
    assert alerts(calls) == ["This button is out of date. Here is the current view."]


async def rows_of(sessions: async_sessionmaker[AsyncSession], where: Any) -> list[Any]:
    async with sessions() as s:
        return list((await s.execute(select(AuditLog).where(where).order_by(AuditLog.id))).all())


def test_an_address_blob_opens_only_as_the_address_of_its_own_order() -> None:
    cipher = GoodsCipher(WALLET_KEY)
    blob = cipher.seal_address(ADDRESS, 7)
    assert NEEDLE.encode() not in blob and cipher.open_address(blob, 7) == ADDRESS
    wrongs: list[Callable[[], str]] = [
        lambda: cipher.open_address(blob, 8),  # copied into another order's row
        lambda: cipher.open(blob, 7),  # passed off as goods (also under the legacy AAD)
        lambda: cipher.open_preview(blob, 7),
        lambda: cipher.open_address_draft(blob, 7),  # as a draft of user 7
        lambda: cipher.open_address(cipher.seal("KEY-1", 7), 7),  # goods passed off as an address
        lambda: cipher.open_address(cipher.seal_address_draft(ADDRESS, 7), 7),
        lambda: GoodsCipher("another key of 16+ chars").open_address(blob, 7),
    ]
    for wrong in wrongs:
        with pytest.raises(DecryptionError):
            wrong()


def test_sqlite_connections_overwrite_erased_data() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("PRAGMA secure_delete=OFF")  # as some builds of SQLite start
        _sqlite_on_connect(conn, None)  # what the shop's engine runs on each new connection
        assert conn.execute("PRAGMA secure_delete").fetchone() == (1,)
    finally:
        conn.close()


async def test_a_digital_order_has_no_address_to_change(tg: Telegram, sessions, container, goods) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=order_id))
    assert "✏ Change shipping address" not in buttons(calls) and "Ship to" not in texts(calls)[0]
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.address, id=order_id))  # forged
    assert alerts(calls) == ["This button is out of date. Here is the current view."]
    user_id = await one(sessions, select(Order.user_id).where(Order.id == order_id))
    async with sessions() as s:
        with pytest.raises(NotFound):
            await container.services(s, ["orders"])["orders"].change_address(order_id, user_id, ADDRESS)
    assert (await order(sessions, order_id)).address_enc is None
