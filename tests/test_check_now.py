"""Issue 13, item 5: "I've paid, check now" is no lever on everyone. Buyers press the button through the
real Dispatcher; the chain is the Esplora double, which can answer 429 with Retry-After like a provider's
rate limit. A tap asks the provider at most once per CHECK_NOW_SECONDS per invoice, counts no miss towards
a reorg, never touches the observer's backoff, and the observer waits exactly as long as a 429 asks."""

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from bot.app import RunningJobs
from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import Settings
from handlers.callbacks import OrderAction, OrderCb
from l10n import Translator
from models.enums import Chain, OrderStatus, OutboxStatus, PaymentStatus
from models.ops import OutboxMessage
from models.orders import Invoice, Order, Payment
from processing.chains.base import ProviderError
from processing.chains.esplora import EsploraBackend
from processing.chains.http import retry_after_seconds
from processing.observer import MAX_BACKOFF_SECONDS, Observer, ProviderHealth, schedule
from services.payments.rates import rate_service_from_settings
from services.payments.reconcile import MISSES_FOR_REORG
from services.ratelimit import MemoryRateLimits, RateLimits
from tests.admin_flow import one, place, rows
from tests.conftest import Clock
from tests.doubles import Fault
from tests.doubles.esplora import EsploraDouble
from tests.payflow import place_order
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, texts

BUYER = Person(id=601, first_name="Peggy", username="peggy")
NOT_SEEN = "No payment seen yet. It can take a minute to show up."
CHECK_FAILED = "The network could not be asked just now; your payment is safe. Try again in a minute."


@dataclass
class Desk:
    """One shop instance: its observer on the Esplora double, and a buyer's Telegram in front of it."""

    tg: Telegram
    observer: Observer
    container: Container


def desk(settings: Settings, sessions, wallet, goods, backend: EsploraBackend, limits: RateLimits) -> Desk:
    observer = Observer(sessions, settings, {Chain.btc: backend}, limits=limits)
    container = Container(
        settings=settings,
        sessions=sessions,
        translator=Translator(),
        wallet=wallet,
        rates=rate_service_from_settings(settings),
        goods=goods,
        observer=observer,
        limits=limits,
    )
    recording = RecordingSession()
    tg = Telegram(
        dp=create_dispatcher(container, MemoryStorage()), bot=create_bot(settings, recording), session=recording
    )
    return Desk(tg, observer, container)


@pytest.fixture
async def esplora() -> AsyncIterator[EsploraDouble]:
    double = EsploraDouble()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def backend(esplora: EsploraDouble) -> AsyncIterator[EsploraBackend]:
    backend = EsploraBackend(Chain.btc, esplora.url, 5)
    yield backend
    await backend.close()


@pytest.fixture
def btc(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"btc_confirmations": 1, "check_now_seconds": 30, "observer_interval_seconds": 30}
    )


@pytest.fixture
def shop(btc: Settings, sessions, wallet, goods, backend: EsploraBackend, clock: Clock) -> Desk:
    return desk(btc, sessions, wallet, goods, backend, MemoryRateLimits(clock))


async def order_at(shop: Desk, sessions, goods, person: Person = BUYER) -> tuple[int, str]:
    """A buyer orders one unit through the buttons; (order id, invoice address)."""
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(shop.tg, sessions, person, product)
    return order_id, await one(sessions, select(Invoice.address).where(Invoice.order_id == order_id))


async def press_check(shop: Desk, order_id: int, person: Person = BUYER) -> list[str]:
    return texts(await shop.tg.press(person, OrderCb(action=OrderAction.check, id=order_id)))


def asked_about(esplora: EsploraDouble, address: str) -> int:
    return sum(address in request for request in esplora.requests)


async def status(sessions, order_id: int) -> OrderStatus:
    return await one(sessions, select(Order.status).where(Order.id == order_id))  # type: ignore[no-any-return]


async def test_check_now_asks_the_provider_at_most_once_per_check_now_seconds(
    shop: Desk, sessions, goods, esplora: EsploraDouble, clock: Clock
) -> None:
    order_id, address = await order_at(shop, sessions, goods)
    assert NOT_SEEN in await press_check(shop, order_id)
    asked = asked_about(esplora, address)
    assert asked > 0

    esplora.pay(address, await one(sessions, select(Invoice.amount_due).where(Invoice.order_id == order_id)))
    esplora.mine(1)
    for _ in range(5):  # the buyer keeps tapping: the current status, and no question to the provider
        clock.now += 5
        assert NOT_SEEN in await press_check(shop, order_id)
    assert asked_about(esplora, address) == asked
    assert await status(sessions, order_id) is OrderStatus.awaiting_payment

    clock.now += 5  # 30 s after the first tap
    await press_check(shop, order_id)
    assert asked_about(esplora, address) > asked
    assert await status(sessions, order_id) is OrderStatus.paid


async def test_check_now_and_webhook_hints_never_count_a_miss(
    shop: Desk, sessions, goods, esplora: EsploraDouble, clock: Clock
) -> None:
    """A provider that answers "nothing" at the moment of a tap must not hurry a payment into "reorged":
    only the observer's full cycles count misses."""
    order_id, address = await order_at(shop, sessions, goods)
    esplora.pay(address, 1_000)  # short: the order waits in confirming
    await shop.observer.observe(Chain.btc)
    assert await status(sessions, order_id) is OrderStatus.confirming

    esplora.fault = Fault.empty
    for _ in range(MISSES_FOR_REORG + 1):
        clock.now += 30
        await press_check(shop, order_id)
        assert await shop.observer.check_address(Chain.btc, address) is True  # what a webhook hint runs
    async with sessions() as s:
        payment = (await s.execute(select(Payment))).scalar_one()
    assert (payment.status, payment.missing_count) == (PaymentStatus.seen, 0)
    assert await status(sessions, order_id) is OrderStatus.confirming

    for _ in range(MISSES_FOR_REORG):  # the cycles still count: a payment that is really gone goes
        await shop.observer.observe(Chain.btc)
    assert await status(sessions, order_id) is OrderStatus.awaiting_payment


async def test_taps_during_a_rate_limit_leave_the_observers_backoff_alone(
    shop: Desk, sessions, goods, esplora: EsploraDouble, clock: Clock
) -> None:
    """The issue's case: six taps while the provider rate-limits used to push every buyer's confirmations
    back by up to ten minutes."""
    order_id, address = await order_at(shop, sessions, goods)
    esplora.rate_limit(60)
    for _ in range(6):
        clock.now += 30
        assert CHECK_FAILED in await press_check(shop, order_id)
    assert asked_about(esplora, address) == 6  # each tap did ask (one window apart) ...
    health = shop.observer.health.get(Chain.btc)
    assert health is None or (health.failures, health.retry_after) == (0, 0.0)  # ... and said nothing to the cycles

    esplora.limited_until = 0
    esplora.pay(address, await one(sessions, select(Invoice.amount_due).where(Invoice.order_id == order_id)))
    esplora.mine(1)
    await shop.observer.observe(Chain.btc)  # the next cycle runs at once
    assert await status(sessions, order_id) is OrderStatus.paid


async def test_the_observer_waits_as_long_as_a_429_asks_and_no_longer(
    shop: Desk, sessions, goods, esplora: EsploraDouble
) -> None:
    await order_at(shop, sessions, goods)
    esplora.rate_limit(7)
    for n in range(6):  # the doubling backoff would be 30 s × 2⁵ by now
        if n:
            shop.observer.health[Chain.btc].retry_after = 0  # time passes: the next cycle is due
        before = time.monotonic()
        await shop.observer.observe(Chain.btc)
        health = shop.observer.health[Chain.btc]
        assert before + 5 <= health.retry_after <= time.monotonic() + 7, "Retry-After: 7 (6 after a slow second)"
    assert health.failures == 6

    esplora.limited_until = 0
    esplora.fault = Fault.rate_limited  # a 429 that does not say how long: the doubling backoff
    health.retry_after = 0
    before = time.monotonic()
    await shop.observer.observe(Chain.btc)
    assert health.retry_after >= before + MAX_BACKOFF_SECONDS  # 30 s × 2⁶, capped


async def test_check_now_asks_nothing_while_the_provider_asked_to_be_left_alone(
    shop: Desk, sessions, goods, esplora: EsploraDouble
) -> None:
    order_id, address = await order_at(shop, sessions, goods)
    esplora.rate_limit(60)
    await shop.observer.observe(Chain.btc)
    assert shop.observer.health[Chain.btc].retry_after > time.monotonic() + 55
    assert asked_about(esplora, address) == 1  # the cycle's first request
    assert CHECK_FAILED in await press_check(shop, order_id)
    assert asked_about(esplora, address) == 1


async def test_a_429_carries_its_retry_after(esplora: EsploraDouble, backend: EsploraBackend) -> None:
    esplora.rate_limit(42)
    with pytest.raises(ProviderError) as caught:
        await backend.scan(["bc1qexample"])
    assert caught.value.retry_after in (41, 42)
    esplora.limited_until = 0
    esplora.fault = Fault.rate_limited  # no Retry-After header
    with pytest.raises(ProviderError) as caught:
        await backend.scan(["bc1qexample"])
    assert caught.value.retry_after is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(" 0 ", now) == 0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:30:00 GMT", now) == 120
    assert retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0  # in the past: now
    for unreadable in (None, "", "soon", "-5", "1.5", "٣", "Wed, 21 Oct 2015 07:30:00 -0000"):
        assert retry_after_seconds(unreadable, now) is None, unreadable


async def test_instances_sharing_redis_share_the_check_now_window(
    btc: Settings, sessions, wallet, goods, esplora: EsploraDouble, backend: EsploraBackend, redis_limits
) -> None:
    first, second = (desk(btc, sessions, wallet, goods, backend, redis_limits) for _ in range(2))
    order_id, address = await order_at(first, sessions, goods)
    await press_check(first, order_id)
    asked = asked_about(esplora, address)
    assert asked > 0
    for shop in (second, first, second):  # behind the proxy, the next tap reaches another instance
        assert NOT_SEEN in await press_check(shop, order_id)
    assert asked_about(esplora, address) == asked


@pytest.mark.stress
async def test_buyers_hammering_check_now_during_a_rate_limit_stall_no_one(
    settings: Settings, sessions, wallet, goods, esplora: EsploraDouble, backend: EsploraBackend
) -> None:
    """20 buyers tap "check now" and forged buttons as fast as they like while the provider rate-limits
    (429 with Retry-After) and 10 others pay. Every paid order is delivered within two observer intervals
    after the limit lifts, when the tapping has stopped (a lucky tap cannot be what un-stalls the shop),
    and the observer never waits longer than the provider asked."""
    interval, limit_seconds, rng = 5, 12, random.Random(13)
    defaults = {name: Settings.model_fields[name].default for name in ("throttle_burst", "throttle_per_minute")}
    btc = settings.model_copy(
        update={"btc_confirmations": 1, "observer_interval_seconds": interval, "check_now_seconds": 30, **defaults}
    )
    shop = desk(btc, sessions, wallet, goods, backend, MemoryRateLimits())
    product = await seed_product(sessions, units=30, goods=goods)
    invoices = [await place_order(btc, sessions, 9_000 + n, product, 1, Chain.btc) for n in range(30)]
    hammering, paying = invoices[:20], invoices[20:]

    scheduler = AsyncIOScheduler(timezone="UTC")
    schedule(scheduler, shop.observer, shop.container.outbox_sender(shop.tg.bot), interval)
    jobs = RunningJobs(scheduler)
    scheduler.start()
    while shop.observer.health.get(Chain.btc, ProviderHealth()).last_ok is None:  # a good first cycle, then
        await asyncio.sleep(0.05)
    esplora.rate_limit(limit_seconds)  # the limit starts between cycles: the first taps meet it themselves
    lifts = time.monotonic() + limit_seconds
    for invoice in paying:
        esplora.pay(invoice.address, invoice.amount_due)
    esplora.mine(1)

    lifted, stop = asyncio.Event(), asyncio.Event()
    overslept: list[float] = []  # how far the observer's backoff ran past what the provider asked

    async def hammer(buyer: Person, invoice: Invoice) -> None:
        someone_else = rng.choice([other for other in invoices if other is not invoice]).order_id
        forged = [
            OrderCb(action=OrderAction.check, id=invoice.order_id).pack(),
            OrderCb(action=OrderAction.check, id=someone_else).pack(),
            OrderCb(action=OrderAction.cancel, id=someone_else).pack(),
            OrderCb(action=OrderAction.view, id=someone_else).pack(),
            f"od:k:{rng.randrange(10**9)}",
            "".join(rng.choice("odk:x0123456789ÿ") for _ in range(rng.randrange(1, 40))),
        ]
        while not lifted.is_set():
            await shop.tg.press(buyer, rng.choice(forged) if rng.random() < 0.4 else forged[0])
            await asyncio.sleep(rng.uniform(0.05, 0.3))

    async def watch_backoff() -> None:
        while not stop.is_set():
            health = shop.observer.health.get(Chain.btc)
            if health is not None and health.retry_after:
                overslept.append(health.retry_after - esplora.asked_until)
            await asyncio.sleep(0.05)

    async def delivered() -> set[int]:
        paid = select(OutboxMessage.order_id).where(
            OutboxMessage.kind == "paid", OutboxMessage.status == OutboxStatus.sent
        )
        return {order_id for (order_id,) in await rows(sessions, paid)}

    hammers = [asyncio.create_task(hammer(Person(id=9_000 + n), invoice)) for n, invoice in enumerate(hammering)]
    watcher = asyncio.create_task(watch_backoff())
    try:
        await asyncio.sleep(lifts - time.monotonic())
        lifted.set()
        await asyncio.gather(*hammers)
        want = {invoice.order_id for invoice in paying}
        while not want <= await delivered() and time.monotonic() < lifts + 2 * interval:
            await asyncio.sleep(0.2)
        late = want - await delivered()
        took = time.monotonic() - lifts
    finally:
        lifted.set()
        stop.set()
        await asyncio.gather(*hammers, watcher)
        await jobs.stop(scheduler)

    assert not late, f"{len(late)} paid orders not delivered {took:.1f} s after the limit lifted"
    assert overslept and max(overslept) <= 1.0  # the observer did back off, never past the provider's ask
    assert shop.tg.raised == []
    statuses = dict(await rows(sessions, select(Order.id, Order.status)))
    assert {statuses[i.order_id] for i in hammering} == {OrderStatus.awaiting_payment}  # forged cancels did nothing
    asked = [asked_about(esplora, invoice.address) for invoice in hammering]
    assert max(asked) <= 2 + took / interval + limit_seconds / interval  # cycles, and one check-now in 30 s
