"""The merchant's side through the real Dispatcher on both databases: vouchers from one line (a code, a batch
as a file, every bad line explained), disabling one; per-coin fees and discounts on the coin buttons and the
invoice; SHOP_NAME, SUPPORT_CONTACT and the texts an admin writes, in en and de."""

from decimal import Decimal
from typing import Any

import pytest
from aiogram.methods import SendDocument, SendPhoto
from sqlalchemy import func, select

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.texts import Language, TextAction, TextCb
from handlers.admin.vouchers import VoucherAction, VoucherCb
from handlers.callbacks import CartAction, CartCb, ProductAction, ProductCb
from models.enums import Chain, VoucherKind
from models.ops import AuditLog
from models.orders import Invoice
from models.promotions import Voucher
from services.money import amount_due
from services.shop.texts import ShopText
from tests.admin_flow import ADMIN, one
from tests.promo import orders
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

BUYER = Person(id=801, first_name="Jo", username="jo")
NOT_UNDERSTOOD = "is not understood here (min, from, until, uses, per, product, category), or its value is missing."
HANS = Person(id=802, first_name="Hans", username="hans", language_code="de")


@pytest.fixture
def settings(settings):
    return settings.model_copy(
        update={
            "shop_name": "Acme <Keys>",
            "support_contact": "@acme_help",
            "coin_fees": {Chain.eth: Decimal("1.5"), Chain.sol: Decimal(-2)},
        }
    )


async def new_voucher(tg: Telegram, line: str) -> list[Any]:
    await tg.press(ADMIN, VoucherCb(action=VoucherAction.new))
    return await tg.send(ADMIN, line)


async def test_an_admin_creates_lists_and_disables_a_voucher(tg: Telegram, sessions) -> None:
    product = await seed_product(sessions, units=5)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.vouchers))
    assert texts(calls) == ["🎟 No vouchers yet."] and "➕ New code or batch" in buttons(calls)
    calls = await new_voucher(
        tg, "summer10 10% min 20 from 2020-01-01 until 2099-08-31 uses 100 per 1 category Software"
    )
    assert texts(calls) == [
        "✅ Saved.\n\n🎟 <b>SUMMER10</b> · active\n10 % off, for Software\nMinimum order: 20.00 USD\n"
        "Valid: from 2020-01-01 until 2099-08-31 (UTC)\nUsed: 0 of 100 · per buyer: 1\n"
        "Link: https://t.me/shop_test_bot?start=v_SUMMER10"
    ]
    voucher = await one(sessions, select(Voucher).where(Voucher.code == "SUMMER10"))
    assert (voucher.kind, voucher.value, voucher.min_order_minor, voucher.max_uses, voucher.per_buyer) == (
        VoucherKind.percent,
        1000,
        2000,
        100,
        1,
    )
    assert f"{voucher.valid_until:%Y-%m-%d %H:%M}" == "2099-09-01 00:00"  # through the last day
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.vouchers))
    assert list(buttons(calls))[:2] == ["SUMMER10 · 10 % · 0/100 used", "➕ New code or batch"]

    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=2))
    await tg.press(BUYER, CartCb(action=CartAction.code))
    assert texts(await tg.send(BUYER, "SUMMER10"))[0].startswith("✅ Code SUMMER10 is on your cart.")
    calls = await tg.press(ADMIN, VoucherCb(action=VoucherAction.disable, id=voucher.id))
    assert "🎟 <b>SUMMER10</b> · 🚫 disabled" in texts(calls)[0] and "✅ Enable" in buttons(calls)
    calls = await tg.press(BUYER, CartCb(action=CartAction.view))
    assert texts(calls)[0].endswith(
        "🎟 Not applied: The code SUMMER10 is no longer valid.\nTotal: 25.00 USD"
    )  # the cart says so
    await tg.press(ADMIN, VoucherCb(action=VoucherAction.enable, id=voucher.id))
    calls = await tg.press(BUYER, CartCb(action=CartAction.view))
    assert texts(calls)[0].endswith("Code SUMMER10: −2.50 USD\nTotal: 22.50 USD")
    actions = [a for (a,) in (await tg_rows(sessions, select(AuditLog.action).where(AuditLog.entity == "voucher")))]
    assert actions == ["voucher.create", "voucher.disable", "voucher.enable"]


async def tg_rows(sessions, stmt) -> list[Any]:
    async with sessions() as s:
        return list((await s.execute(stmt)).all())


async def test_a_batch_of_random_single_use_codes_comes_as_a_file(tg: Telegram, sessions) -> None:
    calls = await new_voucher(tg, "batch 3 5,00 until 2099-12-31")
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    assert (document.caption or "").startswith("✅ 3 codes, 5.00 USD off each (batch ")
    lines = document.document.data.decode().splitlines()  # type: ignore[union-attr]
    codes = [line.split("\t")[0] for line in lines]
    assert len(set(codes)) == 3 and all(len(c) == 10 for c in codes)
    assert lines[0] == f"{codes[0]}\thttps://t.me/shop_test_bot?start=v_{codes[0]}"
    stored = await tg_rows(sessions, select(Voucher.code, Voucher.max_uses, Voucher.value, Voucher.batch))
    assert sorted(c for c, *_ in stored) == sorted(codes)
    assert {(m, v) for _, m, v, _ in stored} == {(1, 500)} and len({b for *_, b in stored}) == 1


async def test_bad_voucher_lines_are_explained_and_change_nothing(tg: Telegram, sessions) -> None:
    await seed_product(sessions, name="Twin", units=1)
    await seed_product(sessions, name="Twin", category="Other", subcategory="Things", units=1)
    await new_voucher(tg, "TAKEN 5")
    lines = {
        "SOLO": "A voucher needs a code (or batch N) and a value.",
        "x! 10%": "“x!” is not a code: 3 to 32 letters, digits or dashes.",
        "NEW 150%": "“150%” is not a value: a percentage like 10% (at most 100) or an amount like 5.00.",
        "NEW 0": "“0” is not a value: a percentage like 10% (at most 100) or an amount like 5.00.",
        "NEW 10% soon 1": f"“soon” {NOT_UNDERSTOOD}",
        "NEW 10% uses": f"“uses” {NOT_UNDERSTOOD}",
        "NEW 10% min 1.234": "“1.234” is not an amount: at most two decimals.",
        "NEW 10% until 2026-13-01": "“2026-13-01” is not a date: write it as 2026-08-31.",
        "NEW 10% from 2026-09-01 until 2026-08-31": "The last day comes before the first.",
        "NEW 10% uses 0": "“0” is not a count here: a whole number from 1 (batches: at most 500).",
        "batch 501 10%": "“501” is not a count here: a whole number from 1 (batches: at most 500).",
        "NEW 10% product Nope": "No single product is called “Nope”: use its id, or a name only one product has.",
        "NEW 10% product Twin": "No single product is called “Twin”: use its id, or a name only one product has.",
        "NEW 10% category Nope": "There is no category “Nope”.",
        "taken 10%": "The code TAKEN exists already.",
    }
    async with sessions() as s:
        before = (await s.execute(select(func.count()).select_from(Voucher))).scalar_one()
    await tg.press(ADMIN, VoucherCb(action=VoucherAction.new))
    for line, problem in lines.items():
        calls = await tg.send(ADMIN, line)
        assert texts(calls) == [f"{problem}\n\nSend the line again, or cancel."], line
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Voucher))).scalar_one() == before == 1


async def test_coin_fees_and_discounts_are_on_the_buttons_and_in_the_total(tg: Telegram, sessions) -> None:
    product = await seed_product(sessions, units=5)
    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=2))
    calls = await tg.press(BUYER, CartCb(action=CartAction.checkout))
    assert texts(calls) == ["Total 25.00 USD. Pay with:"]
    assert list(buttons(calls)) == [
        "BTC",
        "LTC",
        "ETH · 25.38 USD (+1.5 % fee)",
        "SOL · 24.50 USD (−2 % off)",
        "⬅ Back",
    ]
    calls = await tg.press(BUYER, buttons(calls)["SOL · 24.50 USD (−2 % off)"])
    caption = next(c for c in calls if isinstance(c, SendPhoto)).caption or ""
    assert "Total 24.50 USD at 150.00 USD per SOL" in caption
    assert caption.endswith("\nItems: 25.00 USD\nDiscount for paying in SOL: −0.50 USD")
    (order,) = await orders(sessions)
    assert (order.subtotal_minor, order.coin_fee_minor, order.total_minor) == (2500, -50, 2450)
    invoice = await one(sessions, select(Invoice).where(Invoice.order_id == order.id))
    assert invoice.amount_due == amount_due(Chain.sol, Decimal("24.50"), invoice.rate)


async def test_shop_name_contact_and_the_admins_own_texts_in_both_languages(tg: Telegram) -> None:
    calls = await tg.send(BUYER, "/start")
    assert texts(calls)[0].startswith("Welcome to Acme &lt;Keys&gt;, Jo!")
    calls = await tg.send(HANS, "/start")
    assert texts(calls)[0].startswith("Willkommen bei Acme &lt;Keys&gt;, Hans!")
    terms = texts(await tg.send(BUYER, "/terms"))[0]
    assert terms.startswith("📜 <b>Terms of Acme &lt;Keys&gt;</b>") and "contact @acme_help." in terms
    assert "kontaktiere @acme_help mit deiner Bestellnummer" in texts(await tg.send(HANS, "/paysupport"))[0]

    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.texts))
    assert "Welcome · 🇩🇪 Deutsch · built-in" in buttons(calls)
    await tg.press(ADMIN, TextCb(action=TextAction.edit, kind=ShopText.welcome, language=Language.de))
    calls = await tg.send(ADMIN, "Servus {name}, schön <dass> du da bist!")
    assert "Servus {name}, schön &lt;dass&gt; du da bist!" in texts(calls)[0]
    assert "↩ Back to the built-in text" in buttons(calls)
    assert texts(await tg.send(HANS, "/start"))[0] == "Servus Hans, schön &lt;dass&gt; du da bist!"
    assert texts(await tg.send(BUYER, "/start"))[0].startswith("Welcome to Acme")  # English is still built in
    await tg.press(ADMIN, TextCb(action=TextAction.reset, kind=ShopText.welcome, language=Language.de))
    assert texts(await tg.send(HANS, "/start"))[0].startswith("Willkommen bei Acme")

    await tg.press(ADMIN, TextCb(action=TextAction.edit, kind=ShopText.terms, language=Language.en))
    calls = await tg.send(ADMIN, "x" * 3001)
    assert texts(calls) == ["Please send plain text of at most 3000 characters."]
    await tg.send(ADMIN, "Our terms: be nice.")
    assert texts(await tg.send(BUYER, "/terms")) == ["Our terms: be nice."]
    assert texts(await tg.send(HANS, "/terms"))[0].startswith("📜 <b>Bedingungen von Acme")
