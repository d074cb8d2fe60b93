"""The observer against a real Litecoin Core node in regtest (core-rpc backend, watch-only wallet)."""

import shutil
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from models.enums import Chain, Network, OrderProblem, OrderStatus, StockStatus
from models.orders import Order, Reservation
from models.shop import User
from models.types import utcnow
from processing.chains.core_rpc import CoreRpcBackend
from services.money import format_amount
from tests.conftest import ADMIN_ID
from tests.keys import LTC_TTUB
from tests.nodes import Litecoind, litecoind_fixture  # noqa: F401
from tests.payflow import Shop, fresh_addresses
from tests.shop import seed_product

BUYER = 301


@pytest.fixture
async def shop(settings, sessions, goods, litecoind: Litecoind):
    regtest = settings.model_copy(
        update={
            "network": Network.regtest,
            "ltc_xpub": LTC_TTUB,
            "btc_xpub": "",
            "eth_xpub": "",
            "ltc_confirmations": 2,
            "underpaid_grace_minutes": 30,
        }
    )
    backend = CoreRpcBackend(Chain.ltc, f"{litecoind.url}/wallet/shop-{uuid.uuid4().hex[:8]}", 10)
    await fresh_addresses(sessions, Chain.ltc)
    yield Shop.build(regtest, sessions, goods, Chain.ltc, backend)
    await backend.close()


def coins(litoshi: int) -> Decimal:
    return Decimal(format_amount(Chain.ltc, litoshi))


async def test_pay_confirm_and_deliver_exactly_once(shop: Shop, sessions, goods, litecoind: Litecoind) -> None:
    product = await seed_product(sessions, units=3, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.ltc)
    assert invoice.address.startswith("rltc1")
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment

    litecoind.send(invoice.address, coins(invoice.amount_due))
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    litecoind.mine(1)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    assert [(m["confirmations"], m["required"]) for m in await shop.outbox("payment_seen")] == [(0, 2), (1, 2)]

    litecoind.mine(1)
    for _ in range(3):  # repeated cycles and checks change nothing more
        await shop.observer.observe(Chain.ltc)
        assert await shop.observer.check_address(Chain.ltc, invoice.address) is True
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    assert await shop.units(StockStatus.sold) == 2 and await shop.units(StockStatus.available) == 1
    assert await shop.one(select(func.count()).select_from(Reservation)) == 0
    assert len(await shop.outbox("paid")) == 1 and await shop.payments() == 1
    texts = await shop.sent_texts(BUYER)
    assert any(t.startswith(f"✅ Order #{invoice.order_id} is paid.") and "KEY-Editor Pro 1y-0000" in t for t in texts)
    assert await shop.one(select(Order.delivered_at).where(Order.id == invoice.order_id)) is not None


async def test_reorg_below_depth_uncredits_and_reopens(shop: Shop, sessions, goods, litecoind: Litecoind) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.ltc)
    await shop.observer.observe(Chain.ltc)
    txid = litecoind.send(invoice.address, coins(invoice.amount_due))
    (block,) = litecoind.mine(1)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming

    litecoind.invalidate(block)  # back to the mempool: still seen, 0 confirmations, nothing credited
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    litecoind.double_spend(txid)  # now gone for good
    for _ in range(3):
        await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment
    assert len(await shop.outbox("payment_reorged")) == 1
    assert len(await shop.outbox("admin.reorged")) == 1
    assert await shop.units(StockStatus.reserved) == 1  # still held for the buyer


async def test_a_lost_watch_wallet_is_rebuilt_and_its_payment_found(
    shop: Shop, sessions, goods, litecoind: Litecoind
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.ltc)
    await shop.observer.observe(Chain.ltc)  # watched since checkout
    wallet = shop.observer.backends[Chain.ltc]._wallet  # type: ignore[attr-defined]  # the fixture's shop-… name
    litecoind.rpc("unloadwallet", wallet)  # the node operator wiped the wallet ...
    shutil.rmtree(litecoind.datadir / "regtest" / "wallets" / wallet)
    litecoind.send(invoice.address, coins(invoice.amount_due))  # ... and the buyer paid meanwhile
    litecoind.mine(2)
    await shop.observer.observe(Chain.ltc)  # a fresh wallet that does not watch the address: unknown
    assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment
    shop.observer.health[Chain.ltc].retry_after = 0  # skip the backoff wait
    await shop.observer.observe(Chain.ltc)  # imported again, recent blocks searched
    assert await shop.status(invoice.order_id) is OrderStatus.paid


async def expire_now(sessions, order_id: int) -> None:
    async with sessions.begin() as s:
        await s.execute(update(Order).where(Order.id == order_id).values(expires_at=utcnow() - timedelta(seconds=1)))


async def test_unpaid_order_expires_stock_returns_and_timeout_counts(shop: Shop, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.ltc)
    await expire_now(sessions, invoice.order_id)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.expired
    assert await shop.units(StockStatus.available) == 2
    assert await shop.one(select(User.timeout_count).where(User.telegram_id == BUYER)) == 1
    assert any("expired unpaid" in t for t in await shop.sent_texts(BUYER))


async def test_underpaid_gets_one_grace_then_goes_to_problems(
    shop: Shop, sessions, goods, litecoind: Litecoind
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.ltc)
    await shop.observer.observe(Chain.ltc)
    half = invoice.amount_due // 2
    litecoind.send(invoice.address, coins(half))
    litecoind.mine(2)
    await expire_now(sessions, invoice.order_id)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming  # extended once
    (grace,) = await shop.outbox("underpaid_grace")
    assert grace["remainder"] == invoice.amount_due - half
    texts = await shop.sent_texts(BUYER)
    assert any(format_amount(Chain.ltc, invoice.amount_due - half) in t and invoice.address in t for t in texts)

    await expire_now(sessions, invoice.order_id)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.underpaid
    assert await shop.one(select(Order.problem).where(Order.id == invoice.order_id)) is OrderProblem.underpaid
    assert await shop.units(StockStatus.available) == 1
    assert len(await shop.outbox("admin.problem")) == 1


async def test_overpaid_is_paid_and_flagged(shop: Shop, sessions, goods, litecoind: Litecoind) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.ltc)
    await shop.observer.observe(Chain.ltc)
    litecoind.send(invoice.address, coins(invoice.amount_due * 2))
    litecoind.mine(2)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    assert await shop.one(select(Order.problem).where(Order.id == invoice.order_id)) is OrderProblem.overpaid
    assert any("more than the invoice" in t for t in await shop.sent_texts(BUYER))


async def test_late_payment_after_expiry_is_flagged_not_fulfilled(
    shop: Shop, sessions, goods, litecoind: Litecoind
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.ltc)
    await expire_now(sessions, invoice.order_id)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.expired
    litecoind.send(invoice.address, coins(invoice.amount_due))
    litecoind.mine(2)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.paid_late
    assert await shop.units(StockStatus.sold) == 0
    (alert,) = await shop.outbox("admin.problem")
    assert alert["problem"] == "paid_late"
    paid_late = f"⚠ Order #{invoice.order_id} was paid late: {format_amount(Chain.ltc, invoice.amount_due)} LTC arrived"
    assert any(t.startswith(paid_late) for t in await shop.sent_texts(ADMIN_ID))


async def test_unconfirmed_dust_gives_the_stock_back_by_deadline_plus_grace(
    shop: Shop, sessions, goods, litecoind: Litecoind
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.ltc)
    await shop.observer.observe(Chain.ltc)
    litecoind.send(invoice.address, coins(100_000))  # dust in the mempool, never mined
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming

    await expire_now(sessions, invoice.order_id)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming  # the one grace for the remainder
    assert [m["remainder"] for m in await shop.outbox("underpaid_grace")] == [invoice.amount_due - 100_000]
    await expire_now(sessions, invoice.order_id)
    await shop.observer.observe(Chain.ltc)
    assert await shop.status(invoice.order_id) is OrderStatus.underpaid  # still unconfirmed: closed anyway
    assert await shop.units(StockStatus.available) == 1
    assert await shop.one(select(User.timeout_count).where(User.telegram_id == BUYER)) == 1
