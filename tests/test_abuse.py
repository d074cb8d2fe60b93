"""Money safety against a buyer who games the shop: dust that would hold stock for ever, cancel-and-retry
loops, and wallet addresses burnt faster than a wallet's gap limit. Buyers use the real Dispatcher; the
chain's answers go through the observer's own code path."""

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from aiogram.methods import SendPhoto
from sqlalchemy import event, select, update

import repositories.payments
from bot.app import chains_to_watch
from handlers.callbacks import OrderAction, OrderCb
from models.enums import Chain, OrderProblem, OrderStatus, PaymentStatus, StockStatus
from models.ops import WebhookEvent
from models.orders import Invoice, Order, Payment
from models.shop import StockUnit, User
from models.types import utcnow
from services.payments.hints import HintService, PaymentHint
from services.payments.reconcile import PaymentService
from services.payments.watchlist import WatchList
from services.wallet.goods import GoodsCipher
from tests.admin_flow import alerts, cancel, one, order, outbox, pay, place, rows, units
from tests.shop import seed_product
from tests.telegram import Person, texts

BUYER = Person(id=401, first_name="Mallory", username="mallory")


async def deadline_passes(sessions, settings, order_id: int, *, hours: float = 0) -> None:
    """Move the order's deadline into the past (by `hours` more), then run the observer's expiry."""
    async with sessions.begin() as s:
        expires_at = (await s.execute(select(Order.expires_at).where(Order.id == order_id))).scalar_one()
        moved = min(expires_at, utcnow()) - timedelta(seconds=1, hours=hours)
        await s.execute(update(Order).where(Order.id == order_id).values(expires_at=moved))
        chain = (await s.execute(select(Invoice.chain).where(Invoice.order_id == order_id))).scalar_one()
    async with sessions() as s:
        await PaymentService(s, settings).expire_overdue(chain, utcnow())


async def timeouts(sessions, person: Person) -> int:
    return int(await one(sessions, select(User.timeout_count).where(User.telegram_id == person.id)))


async def test_unconfirmed_dust_gives_the_stock_back_after_one_grace(tg, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, order_id, [546], confirmations=0)  # dust, never to confirm
    assert (await order(sessions, order_id)).status is OrderStatus.confirming

    await deadline_passes(sessions, settings, order_id)
    held = await order(sessions, order_id)
    assert (held.status, held.grace_used) == (OrderStatus.confirming, True)  # the one grace for the remainder
    assert [p["remainder"] for _, o, p in await outbox(sessions, "underpaid_grace") if o == order_id]

    await deadline_passes(sessions, settings, order_id)
    closed = await order(sessions, order_id)
    assert (closed.status, closed.problem) == (OrderStatus.underpaid, OrderProblem.underpaid)
    assert await units(sessions, StockStatus.available) == 1
    assert await timeouts(sessions, BUYER) == 1


async def test_a_full_payment_that_never_confirms_holds_the_stock_for_monitor_hours_only(
    tg, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, order_id, confirmations=0)  # the whole amount, in the mempool

    await deadline_passes(sessions, settings, order_id)
    assert (await order(sessions, order_id)).status is OrderStatus.confirming  # money on its way: wait
    await deadline_passes(sessions, settings, order_id, hours=settings.monitor_hours)
    closed = await order(sessions, order_id)
    assert (closed.status, closed.problem) == (OrderStatus.underpaid, OrderProblem.underpaid)
    assert await units(sessions, StockStatus.available) == 1
    assert await timeouts(sessions, BUYER) == 1


async def test_cancels_beyond_the_free_allowance_count_as_timeouts(tg, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    free = settings.free_cancels_per_day
    for n in range(free + 2):
        order_id = await place(tg, sessions, BUYER, product)
        await cancel(tg, BUYER, order_id)
        assert (await order(sessions, order_id)).status is OrderStatus.cancelled
        assert await timeouts(sessions, BUYER) == max(0, n + 1 - free)
    assert await units(sessions, StockStatus.available) == 1


async def test_admins_hear_once_when_unused_addresses_pass_the_gap_limit(tg, sessions, settings, goods) -> None:
    settings.gap_limit_warn = 2
    product = await seed_product(sessions, units=10, goods=goods)
    for n in range(5):
        buyer = Person(id=500 + n)
        await place(tg, sessions, buyer, product)
        alerts = await outbox(sessions, "admin.gap_limit")
        assert len(alerts) == (0 if n < 2 else 1)  # the third unused address in a row crosses the limit
    assert alerts == [(900_000_001, None, {"coin": "BTC", "gap": 3, "limit": 2})]


async def test_the_gap_limit_counts_from_the_last_index_paid_on_chain(tg, sessions, settings, goods) -> None:
    settings.gap_limit_warn = 2
    product = await seed_product(sessions, units=10, goods=goods)
    await place(tg, sessions, Person(id=600), product)  # index 0
    await pay(sessions, settings, await place(tg, sessions, Person(id=601), product))  # index 1: paid
    alerts = []
    for n in range(3):  # indices 2, 3, 4; the payment to index 3 is gone again (reorged)
        placed = await place(tg, sessions, Person(id=602 + n), product)
        if n == 1:
            await pay(sessions, settings, placed)
            async with sessions.begin() as s:
                invoice = select(Invoice.id).where(Invoice.order_id == placed).scalar_subquery()
                await s.execute(
                    update(Payment).where(Payment.invoice_id == invoice).values(status=PaymentStatus.reorged)
                )
        alerts.append(len(await outbox(sessions, "admin.gap_limit")))
    assert alerts == [0, 0, 1]  # index 4 makes the run after index 1 three long
    assert (await outbox(sessions, "admin.gap_limit"))[0][2] == {"coin": "BTC", "gap": 3, "limit": 2}


async def test_money_for_a_closed_order_alerts_admins(tg, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    short = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, short, [1000])
    await deadline_passes(sessions, settings, short)  # grace
    await deadline_passes(sessions, settings, short)  # underpaid
    paid = await place(tg, sessions, Person(id=402), product)
    await pay(sessions, settings, paid)
    assert (await order(sessions, paid)).status is OrderStatus.paid

    await pay(sessions, settings, short, [1000, 5000])  # the buyer sends more after the close
    amount_due = await one(sessions, select(Invoice.amount_due).where(Invoice.order_id == paid))
    await pay(sessions, settings, paid, [amount_due, 7000])  # a second payment to a paid invoice
    alerts = {o: p for _, o, p in await outbox(sessions, "admin.more_money") if _ == 900_000_001}
    assert alerts == {
        short: {"problem": "underpaid", "received": 6000},
        paid: {"problem": "overpaid", "received": amount_due + 7000},
    }
    assert (await order(sessions, paid)).problem is OrderProblem.overpaid


async def test_a_paid_order_is_watched_for_monitor_hours_after_it_closed_not_after_checkout(
    tg, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    slow = await place(tg, sessions, BUYER, product)
    old = await place(tg, sessions, Person(id=403), product)
    await pay(sessions, settings, slow)  # paid now, after confirming for longer than MONITOR_HOURS
    await deadline_passes(sessions, settings, old)  # expired now
    day_and_more = utcnow() - timedelta(hours=settings.monitor_hours + 6)
    async with sessions.begin() as s:
        await s.execute(update(Invoice).values(created_at=day_and_more))
        await s.execute(update(Order).where(Order.id == old).values(closed_at=day_and_more))
    async with sessions() as s:
        since = utcnow() - timedelta(hours=settings.monitor_hours)
        watched = {w.id for w in await WatchList(s).invoices(Chain.btc, since)}
    invoice_of = {o: i for o, i in await rows(sessions, select(Invoice.order_id, Invoice.id))}
    assert watched == {invoice_of[slow]}


async def test_the_watch_list_reads_every_invoice_once_page_by_page(tg, sessions, goods, monkeypatch) -> None:
    """PaymentRepo.watched reads WATCHED_PAGE rows at a time, so the event loop serves others between reads."""
    monkeypatch.setattr(repositories.payments, "WATCHED_PAGE", 2)
    product = await seed_product(sessions, units=5, goods=goods)
    for n in range(5):
        await place(tg, sessions, Person(id=410 + n), product)
    async with sessions() as s:
        watched = [w.id for w in await WatchList(s).invoices(Chain.btc, utcnow())]
    invoices = [i for (i,) in await rows(sessions, select(Invoice.id).order_by(Invoice.id))]
    assert len(invoices) == 5
    assert watched == invoices


async def test_each_page_of_the_watch_list_is_a_range_of_an_index_not_a_sort(tg, engine, sessions, goods) -> None:
    """SQLite: a page of PaymentRepo.watched reads the chain's invoices after the last id in index order. Found by
    (chain, derivation index) instead, every page sorted all of the chain's invoices: 10,000 invoices took
    twice the CPU, in steps of the event loop of up to 14 ms. PostgreSQL walks the primary key in id order
    without the index, so only SQLite's plan is checked."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's plan reads the primary key in order either way")
    product = await seed_product(sessions, units=2, goods=goods)
    await place(tg, sessions, Person(id=430), product)
    ran: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM invoices JOIN orders" in statement:
            ran.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with sessions() as s:
            assert len(await WatchList(s).invoices(Chain.btc, utcnow())) == 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    (statement, parameters), *_ = ran
    async with engine.connect() as conn:
        plan = " | ".join(row[-1] for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
    assert "USING INDEX ix_invoices_chain_id (chain=? AND id>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


async def test_webhook_event_ids_are_kept_only_as_long_as_a_replay_could_pass(sessions) -> None:
    now, tolerance = utcnow(), 300
    async with sessions() as s:
        hints = HintService(s)
        assert await hints.remember(PaymentHint("old", Chain.btc, "bc1q", None), now - timedelta(hours=1), tolerance)
        assert await hints.remember(
            PaymentHint("recent", Chain.btc, "bc1q", None), now - timedelta(minutes=9), tolerance
        )
        assert not await hints.remember(PaymentHint("recent", Chain.btc, "bc1q", None), now, tolerance)  # a replay
        assert await hints.remember(PaymentHint("new", Chain.btc, "bc1q", None), now, tolerance)
    assert {e for (e,) in await rows(sessions, select(WebhookEvent.event_id))} == {"recent", "new"}


async def test_a_coin_removed_from_the_settings_is_still_watched_while_it_has_orders(
    tg, sessions, settings, goods, wallet
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    await place(tg, sessions, BUYER, product, chain=Chain.ltc)
    without_ltc = dataclasses.replace(wallet, keys={c: k for c, k in wallet.keys.items() if c is not Chain.ltc})
    assert Chain.ltc not in without_ltc.chains
    assert await chains_to_watch(sessions, settings, without_ltc) == [Chain.btc, Chain.ltc, Chain.eth, Chain.sol]
    without_btc = dataclasses.replace(wallet, keys={c: k for c, k in wallet.keys.items() if c is not Chain.btc})
    assert Chain.btc not in await chains_to_watch(sessions, settings, without_btc)  # nothing to watch there


async def test_goods_sealed_under_an_old_key_and_a_changed_wallet_never_break_the_order_view(
    tg, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    paid = await place(tg, sessions, BUYER, product)
    await pay(sessions, settings, paid)
    old_key = GoodsCipher("the goods key before a rotation")
    async with sessions.begin() as s:  # the unit was sealed under a key the shop no longer has
        await s.execute(
            update(StockUnit).where(StockUnit.order_id == paid).values(payload_enc=old_key.seal("K", product))
        )
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.view, id=paid))
    assert "cannot be shown right now" in texts(calls)[0] and "KEY-" not in texts(calls)[0]

    unpaid = await place(tg, sessions, Person(id=404), product)
    async with sessions.begin() as s:  # the merchant replaced the xpub under an open invoice
        await s.execute(update(Invoice).where(Invoice.order_id == unpaid).values(derivation_index=999))
    calls = await tg.press(Person(id=404), OrderCb(action=OrderAction.view, id=unpaid))
    assert alerts(calls) == [
        "This invoice cannot be shown: its address no longer matches the shop's wallet. "
        "Please do not pay it, and contact support."
    ]
    assert not [c for c in calls if isinstance(c, SendPhoto)]
