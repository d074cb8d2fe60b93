"""The observer against anvil, a real Ethereum node: pay, confirm at depth, reorg, and the buyer's
"check now" button through the real Dispatcher."""

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from sqlalchemy import select

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from handlers.callbacks import OrderAction, OrderCb
from l10n import Translator
from models.enums import Chain, OrderStatus, PaymentStatus, StockStatus
from models.orders import Payment
from processing.chains.evm_rpc import EvmRpcBackend
from processing.observer import Observer
from services.payments.rates import rate_service_from_settings
from tests.nodes import Anvil, anvil_fixture, anvil_session_fixture  # noqa: F401
from tests.payflow import Shop
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, texts

DEPTH = 3
BUYER = 401


@pytest.fixture
async def eth(settings, sessions, goods, anvil: Anvil):
    eth_settings = settings.model_copy(update={"eth_confirmations": DEPTH})
    backend = EvmRpcBackend(anvil.url, DEPTH, 10)
    yield Shop.build(eth_settings, sessions, goods, Chain.eth, backend)
    await backend.close()


async def test_eth_payment_confirms_at_depth_and_delivers(eth: Shop, sessions, goods, anvil: Anvil) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await eth.order(BUYER, product, 2, Chain.eth)
    await eth.observer.observe(Chain.eth)
    anvil.send(invoice.address, invoice.amount_due)  # mined in its own block: 1 confirmation
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.confirming
    anvil.mine(DEPTH - 2)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.confirming
    anvil.mine(1)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.paid
    assert [(m["confirmations"], m["required"]) for m in await eth.outbox("payment_seen")] == [(1, 3), (2, 3)]
    assert await eth.units(StockStatus.sold) == 2
    texts_ = await eth.sent_texts(BUYER)
    assert any("KEY-Editor Pro 1y-0001" in t for t in texts_)


async def test_eth_reorg_before_depth_uncredits(eth: Shop, sessions, goods, anvil: Anvil) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await eth.order(BUYER, product, 1, Chain.eth)
    anvil.send(invoice.address, invoice.amount_due)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.confirming
    anvil.reorg(1)  # the block with the payment is replaced by one without it
    for _ in range(3):
        await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.awaiting_payment
    async with sessions() as s:
        assert (await s.execute(select(Payment.status))).scalar_one() is PaymentStatus.reorged
    assert await eth.units(StockStatus.reserved) == 1
    anvil.mine(DEPTH + 2)  # nothing comes back by itself
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.awaiting_payment


async def test_check_now_button_confirms_without_waiting_for_the_cycle(
    eth: Shop, container: Container, sessions, goods, anvil: Anvil
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await eth.order(BUYER, product, 1, Chain.eth)
    live = Container(
        settings=eth.settings,
        sessions=sessions,
        translator=Translator(),
        wallet=container.wallet,
        rates=rate_service_from_settings(eth.settings),
        goods=goods,
        observer=Observer(sessions, eth.settings, eth.observer.backends),
    )
    recording = RecordingSession()
    tg = Telegram(
        dp=create_dispatcher(live, MemoryStorage()), bot=create_bot(eth.settings, recording), session=recording
    )
    buyer = Person(id=BUYER)
    calls = await tg.press(buyer, OrderCb(action=OrderAction.check, id=invoice.order_id))
    assert "No payment seen yet. It can take a minute to show up." in texts(calls)
    anvil.send(invoice.address, invoice.amount_due)
    anvil.mine(DEPTH - 1)
    calls = await tg.press(buyer, OrderCb(action=OrderAction.check, id=invoice.order_id))
    assert await eth.status(invoice.order_id) is OrderStatus.paid
    assert any("· paid" in t for t in texts(calls))
