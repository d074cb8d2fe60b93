"""A physical order through the real Dispatcher, paid on a real Litecoin Core node (regtest, core-rpc): a
shipping option and an address at checkout, the observer's confirmation, "ready for shipment" with the
address, shipped with tracking, and the buyer's order detail with it."""

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendPhoto
from sqlalchemy import select

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.admin.shipping import ShipOptAction, ShipOptCb
from handlers.callbacks import CartAction, CartCb, OrderAction, OrderCb, ProductAction, ProductCb
from l10n import Translator
from models.enums import Chain, OrderStatus, ProductKind
from models.orders import Invoice
from services.admin.dto import OrderBucket
from services.payments.rates import rate_service_from_settings
from services.wallet.merchant import load_wallet
from tests import test_observer_ltc
from tests.admin_flow import ADMIN
from tests.nodes import Litecoind, litecoind_fixture  # noqa: F401
from tests.payflow import Shop
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_observer_ltc import coins

BUYER = Person(id=801, first_name="Lene", username="lene")
ADDRESS = "Lene Lux\nHafenstraße 3\n20457 Hamburg"
ltc_shop = test_observer_ltc.shop  # that module's shop fixture: regtest LTC watched by litecoind, here by this name


@pytest.fixture
def tg(ltc_shop: Shop, sessions, goods) -> Telegram:
    """The real Dispatcher of test_observer_ltc's shop: regtest LTC, watched by litecoind."""
    container = Container(
        settings=ltc_shop.settings,
        sessions=sessions,
        translator=Translator(),
        wallet=load_wallet(ltc_shop.settings),
        rates=rate_service_from_settings(ltc_shop.settings),
        goods=goods,
        observer=ltc_shop.observer,
    )
    session = RecordingSession()
    return Telegram(
        dp=create_dispatcher(container, MemoryStorage()), bot=create_bot(ltc_shop.settings, session), session=session
    )


async def test_a_parcel_paid_on_litecoind_is_shipped_to_its_address(
    ltc_shop: Shop, tg: Telegram, sessions, litecoind: Litecoind
) -> None:
    product = await seed_product(sessions, name="Poster", kind=ProductKind.physical, units=2, price_minor=2000)
    await tg.press(ADMIN, ShipOptCb(action=ShipOptAction.new))
    await tg.send(ADMIN, "Standard 4.00")

    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(BUYER, CartCb(action=CartAction.checkout))
    calls = await tg.send(BUYER, ADDRESS)
    calls = await tg.press(BUYER, buttons(calls)["Standard · 4.00 USD"])
    assert "Items 20.00 USD + shipping (Standard) 4.00 USD = total <b>24.00 USD</b>" in texts(calls)[0]
    calls = await tg.press(BUYER, buttons(calls)["LTC"])
    assert any(isinstance(c, SendPhoto) for c in calls)
    async with sessions() as s:
        invoice = (await s.execute(select(Invoice))).scalar_one()
    assert invoice.address.startswith("rltc1") and invoice.amount_due == 30_000_000  # 24 USD at 80 USD per LTC

    litecoind.send(invoice.address, coins(invoice.amount_due))
    litecoind.mine(2)
    await ltc_shop.observer.observe(Chain.ltc)
    assert await ltc_shop.status(invoice.order_id) is OrderStatus.paid

    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.list, bucket=OrderBucket.ready))
    assert f"<b>#{invoice.order_id}</b> · Standard\n📮 Ship to:\n{ADDRESS}" in texts(calls)[0]
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=invoice.order_id))
    await tg.press(ADMIN, buttons(calls)["🚚 Mark shipped"])
    await tg.send(ADMIN, "Hermes H100 2000 3000")
    assert await ltc_shop.status(invoice.order_id) is OrderStatus.shipped
    assert any("Tracking: Hermes H100 2000 3000" in t for t in await ltc_shop.sent_texts(BUYER.id))
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=invoice.order_id))
    detail = texts(calls)[0]
    assert f"Shipping: Standard · 4.00 USD\n📦 Ship to:\n{ADDRESS}" in detail
    assert detail.endswith("🚚 Tracking: Hermes H100 2000 3000")
