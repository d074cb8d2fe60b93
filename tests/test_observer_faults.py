"""Provider faults and races, against the Esplora double: an error is "unknown", never "nothing
received"; observer, check-now and each other racing on one invoice never credit twice."""

import asyncio
import dataclasses
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from config import ROOT
from models.enums import Chain, OrderStatus, OutboxStatus, PaymentStatus, StockStatus
from models.ops import AuditLog, OutboxMessage
from models.orders import Order, Payment
from models.shop import User
from models.types import utcnow
from processing.chains.esplora import EsploraBackend
from repositories.outbox import OutboxRepo
from services.payments.reconcile import MISSES_FOR_REORG, PaymentService
from services.payments.seen import SeenPayment
from tests.doubles import Fault
from tests.doubles.esplora import EsploraDouble
from tests.payflow import Shop
from tests.shop import seed_product

ERRORS = [Fault.rate_limited, Fault.server_error, Fault.timeout, Fault.truncated]


@pytest.fixture
async def esplora(request):
    double = EsploraDouble(style=getattr(request, "param", "mempool"))  # a test may ask for "blockstream"
    double.slow_seconds = 3.0
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def shop(settings, sessions, goods, esplora: EsploraDouble):
    backend = EsploraBackend(Chain.btc, esplora.url, 2)  # 0.5 s can time out a healthy double on a busy CI
    btc = settings.model_copy(update={"btc_confirmations": 2, "observer_interval_seconds": 1})
    yield Shop.build(btc, sessions, goods, Chain.btc, backend)
    await backend.close()


async def overdue(sessions, order_id: int) -> None:
    async with sessions.begin() as s:
        await s.execute(update(Order).where(Order.id == order_id).values(expires_at=utcnow() - timedelta(seconds=1)))


async def payment_statuses(sessions) -> set[PaymentStatus]:
    async with sessions() as s:
        return set((await s.execute(select(Payment.status))).scalars())


def recover(shop: Shop, esplora: EsploraDouble) -> None:
    esplora.fault = Fault.none
    shop.observer.health[Chain.btc].retry_after = 0  # skip the backoff wait


@pytest.mark.parametrize("fault", ERRORS)
async def test_provider_errors_change_nothing_and_never_expire(
    shop: Shop, sessions, goods, esplora: EsploraDouble, fault: Fault
) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    unpaid = await shop.order(501, product, 1, Chain.btc)
    paying = await shop.order(502, product, 1, Chain.btc)
    esplora.pay(paying.address, paying.amount_due)
    await overdue(sessions, unpaid.order_id)
    esplora.fault = fault
    await shop.observer.observe(Chain.btc)
    assert await shop.status(unpaid.order_id) is OrderStatus.awaiting_payment  # not expired: we could not look
    assert await shop.status(paying.order_id) is OrderStatus.awaiting_payment
    assert await shop.observer.check_address(Chain.btc, paying.address) is None
    assert await shop.payments() == 0
    assert shop.observer.health[Chain.btc].failures == 1  # the cycle's; a one-off check never touches it

    recover(shop, esplora)
    esplora.mine(2)
    await shop.observer.observe(Chain.btc)
    assert await shop.status(unpaid.order_id) is OrderStatus.expired
    assert await shop.status(paying.order_id) is OrderStatus.paid


async def test_an_outage_that_answers_empty_does_not_uncredit_or_expire(
    shop: Shop, sessions, goods, esplora: EsploraDouble
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(503, product, 1, Chain.btc)
    esplora.pay(invoice.address, invoice.amount_due)
    esplora.mine(1)
    await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    await overdue(sessions, invoice.order_id)
    esplora.fault = Fault.empty
    for _ in range(2):  # fewer scans in a row than a reorg needs
        await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    recover(shop, esplora)
    esplora.mine(1)
    await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    assert await shop.payments() == 1


async def test_observer_and_check_now_race_without_double_credit(
    settings, sessions, goods, esplora: EsploraDouble
) -> None:
    backend = EsploraBackend(Chain.btc, esplora.url, 60)  # patient: 1,000 requests at once on 2 cores
    shop = Shop.build(settings.model_copy(update={"btc_confirmations": 2}), sessions, goods, Chain.btc, backend)
    orders = 20
    product = await seed_product(sessions, units=orders, goods=goods)
    invoices = [await shop.order(600 + n, product, 1, Chain.btc) for n in range(orders)]
    for invoice in invoices:
        esplora.pay(invoice.address, invoice.amount_due)
    esplora.mine(2)
    checks = [shop.observer.check_address(Chain.btc, invoices[n % orders].address) for n in range(1000)]
    cycles = [shop.observer.observe(Chain.btc) for _ in range(10)]
    results = await asyncio.gather(*checks, *cycles)
    assert all(r is True for r in results[:1000])
    async with sessions() as s:
        paid = (await s.execute(select(func.count()).where(Order.status == OrderStatus.paid))).scalar_one()
        credits = (await s.execute(select(func.count()).where(AuditLog.action == "order.paid"))).scalar_one()
        deliveries = (await s.execute(select(func.count()).where(OutboxMessage.kind == "paid"))).scalar_one()
    assert (paid, credits, deliveries, await shop.payments()) == (orders, orders, orders, orders)
    assert await shop.units(StockStatus.sold) == orders
    await backend.close()


@pytest.mark.parametrize("esplora", ["mempool", "blockstream"], indirect=True)
async def test_dust_after_a_full_payment_cannot_hide_it(shop: Shop, sessions, goods, esplora: EsploraDouble) -> None:
    """Issue 13, item 2: 55 dust transactions after the payment fill mempool.space's first page of
    /txs (50 in all) and /txs/mempool (50) on both implementations. The payment must stay in view
    while they wait in the mempool and after they confirm with it, so the buyer gets the goods."""
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(505, product, 1, Chain.btc)
    esplora.pay(invoice.address, invoice.amount_due)
    await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    for _ in range(55):
        esplora.pay(invoice.address, 546)
    for _ in range(MISSES_FOR_REORG):
        await shop.observer.observe(Chain.btc)
    assert await payment_statuses(sessions) == {PaymentStatus.seen} and await shop.payments() == 56
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    esplora.mine(1)  # the payment is now the oldest of 56 confirmed transactions: on the third page
    await shop.observer.observe(Chain.btc)
    assert await payment_statuses(sessions) == {PaymentStatus.seen}
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    esplora.mine(1)
    await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    assert any("KEY-Editor Pro 1y-0000" in t for t in await shop.sent_texts(505))


async def test_crash_between_send_and_mark_resends_but_never_redelivers_twice(
    shop: Shop, sessions, goods, esplora: EsploraDouble, monkeypatch
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(504, product, 1, Chain.btc)
    esplora.pay(invoice.address, invoice.amount_due)
    esplora.mine(2)
    await shop.observer.observe(Chain.btc)
    async with sessions.begin() as s:  # only the delivery is left to send
        await s.execute(update(OutboxMessage).where(OutboxMessage.kind != "paid").values(status=OutboxStatus.sent))

    finish = OutboxRepo.finish

    async def crash(*args, **kwargs):  # the message went out, then the process died before marking it
        raise asyncio.CancelledError

    monkeypatch.setattr(OutboxRepo, "finish", crash)
    with pytest.raises(asyncio.CancelledError):
        await shop.sender.send_due()
    monkeypatch.setattr(OutboxRepo, "finish", finish)
    assert await shop.sender.send_due() == 0  # the claim still holds: nobody else sends it meanwhile
    async with sessions.begin() as s:  # the claim runs out, as it would after a restart
        await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    texts = await shop.sent_texts(504)
    assert sum("KEY-Editor Pro 1y-0000" in t for t in texts) == 2  # sent again: duplicated message, at most
    assert await shop.sender.send_due() == 0
    async with sessions() as s:
        assert (await s.execute(select(func.count()).where(OutboxMessage.kind == "paid"))).scalar_one() == 1
    assert await shop.units(StockStatus.sold) == 1


@pytest.mark.stress
async def test_two_processes_credit_once_and_expire_once(
    db_url: str, shop: Shop, sessions, goods, esplora: EsploraDouble
) -> None:
    product = await seed_product(sessions, units=30, goods=goods)
    invoices = [await shop.order(700 + n, product, 1, Chain.btc) for n in range(30)]
    for invoice in invoices[:20]:
        esplora.pay(invoice.address, invoice.amount_due)
    esplora.mine(1)
    for invoice in invoices[20:]:
        await overdue(sessions, invoice.order_id)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.observer_worker", db_url, esplora.url, "3", cwd=ROOT
        )
        for _ in range(2)
    ]
    assert [await w.wait() for w in workers] == [0, 0]
    async with sessions() as s:
        counts = dict((await s.execute(select(AuditLog.action, func.count()).group_by(AuditLog.action))).tuples().all())
        kinds = dict(
            (
                await s.execute(
                    select(OutboxMessage.kind, func.count())
                    .where(OutboxMessage.kind.in_(["paid", "expired"]))
                    .group_by(OutboxMessage.kind)
                )
            )
            .tuples()
            .all()
        )
        statuses = dict((await s.execute(select(Order.status, func.count()).group_by(Order.status))).tuples().all())
    assert counts.get("order.paid") == 20 and kinds == {"paid": 20, "expired": 10}
    assert statuses == {OrderStatus.paid: 20, OrderStatus.expired: 10}
    assert await shop.payments() == 20
    assert await shop.one(select(func.sum(User.timeout_count))) == 10


async def test_a_scan_older_than_the_stored_one_changes_nothing(shop: Shop, sessions, goods) -> None:
    """A long cycle scans at t1; meanwhile check-now applies what it saw at t2. The cycle's older view
    (fewer confirmations) must not roll the payment back or flag the paid order as reorged."""
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(503, product, 1, Chain.btc)
    t1 = utcnow()
    seen = SeenPayment(
        natural_id="ab" * 32 + ":0",
        address=invoice.address,
        amount=invoice.amount_due,
        confirmations=2,
        block_height=100,
        block_hash="00" * 32,
    )
    async with sessions() as s:
        payments = PaymentService(s, shop.settings)
        await payments.apply_scan(Chain.btc, invoice.id, [seen], t1 + timedelta(seconds=5), count_misses=False)
        older = dataclasses.replace(seen, confirmations=0, block_height=None, block_hash=None)
        await payments.apply_scan(Chain.btc, invoice.id, [older], t1, count_misses=True)
        await payments.apply_scan(Chain.btc, invoice.id, [], t1, count_misses=True)
    async with sessions() as s:
        order = await s.get(Order, invoice.order_id)
        payment = (await s.execute(select(Payment))).scalar_one()
    assert order is not None and (order.status, order.problem) == (OrderStatus.paid, None)
    assert (payment.confirmations, payment.status, payment.missing_count) == (2, PaymentStatus.confirmed, 0)


async def test_an_order_whose_only_payment_was_reorged_away_expires_as_unpaid(
    shop: Shop, sessions, goods, esplora: EsploraDouble
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(504, product, 1, Chain.btc)
    esplora.pay(invoice.address, invoice.amount_due)
    esplora.mine(1)
    await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    esplora.reorg(1, then="drop")  # a double spend: the payment is gone for good
    for _ in range(3):
        await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment
    await overdue(sessions, invoice.order_id)
    await shop.observer.observe(Chain.btc)
    assert await shop.status(invoice.order_id) is OrderStatus.expired  # not a grace period for "the remainder"
    assert await shop.units(StockStatus.available) == 1
    assert await shop.outbox("underpaid_grace") == [] and len(await shop.outbox("expired")) == 1
