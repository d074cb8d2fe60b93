"""The problem queue through the real Dispatcher: every kind of problem shows up with its amounts and is
resolved; resolutions are conditional, and the observer does not raise a resolved problem again."""

import asyncio

import pytest
from aiogram import Bot
from sqlalchemy import select

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import ApAction, ProblemCb
from handlers.notices import NoticeRenderer
from l10n import Translator
from models.enums import OrderProblem, OrderStatus, StockStatus
from models.orders import Invoice, OrderItem
from processing.outbox import OutboxSender
from services.delivery import OutboxDelivery
from tests.admin_flow import (
    ADMIN,
    ADMIN_2,
    SECOND_ADMIN,
    alerts,
    audit,
    expire_overdue,
    order,
    outbox,
    outbox_sender,
    pay,
    place,
    sent_to,
    units,
)
from tests.conftest import ADMIN_ID, TOKEN
from tests.recording import BlockedBy
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

BUYERS = {problem: Person(id=400 + n, username=f"buyer{n}") for n, problem in enumerate(OrderProblem)}


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"admin_ids": frozenset({ADMIN_ID, SECOND_ADMIN})})


async def make_problems(tg: Telegram, sessions, settings, goods) -> dict[OrderProblem, int]:
    """One order per kind of problem, each brought there by the observer's or the outbox's own code."""
    ids = {}
    for n, problem in enumerate(OrderProblem):
        product = await seed_product(sessions, name=f"Key {n}", units=1, goods=goods, category=f"C{n}")
        ids[problem] = await place(tg, sessions, BUYERS[problem], product)
    due = await _invoice_due(sessions, ids[OrderProblem.underpaid])
    await pay(sessions, settings, ids[OrderProblem.underpaid], [due // 2])
    await expire_overdue(sessions, settings, ids[OrderProblem.underpaid])
    await expire_overdue(sessions, settings, ids[OrderProblem.paid_late])
    await pay(sessions, settings, ids[OrderProblem.paid_late])
    await pay(sessions, settings, ids[OrderProblem.overpaid], [due * 2])
    await pay(sessions, settings, ids[OrderProblem.reorged])
    for _ in range(3):  # missing from three scans in a row: reorged away after the order was paid
        await pay(sessions, settings, ids[OrderProblem.reorged], [])
    await pay(sessions, settings, ids[OrderProblem.delivery_failed])
    blocked = BlockedBy(BUYERS[OrderProblem.delivery_failed].id)
    await OutboxSender(
        OutboxDelivery(sessions, goods, settings),
        Bot(TOKEN, session=blocked),
        NoticeRenderer(Translator(), "en"),
    ).send_due()
    for problem, order_id in ids.items():
        assert (await order(sessions, order_id)).problem is problem, problem
    return ids


async def _invoice_due(sessions, order_id: int) -> int:
    async with sessions() as s:
        return int((await s.execute(select(Invoice.amount_due).where(Invoice.order_id == order_id))).scalar_one())


async def test_every_problem_is_queued_with_its_amounts(tg: Telegram, sessions, settings, goods) -> None:
    ids = await make_problems(tg, sessions, settings, goods)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.problems))
    text = texts(calls)[0]
    underpaid = ids[OrderProblem.underpaid]
    assert (
        f"#{underpaid} · underpaid · underpaid\nDue <code>0.00020834</code> BTC, received <code>0.00010417</code>"
        " BTC, difference −0.00010417 BTC (-6.25 USD at the invoice rate)" in text
    )
    assert (
        f"#{ids[OrderProblem.overpaid]} · overpaid · paid\nDue <code>0.00020834</code> BTC, received "
        "<code>0.00041668</code> BTC, difference +0.00020834 BTC (12.50 USD at the invoice rate)" in text
    )
    assert f"#{ids[OrderProblem.paid_late]} · paid late · paid late" in text
    assert f"#{ids[OrderProblem.reorged]} · payment reorged · paid" in text
    assert f"#{ids[OrderProblem.delivery_failed]} · delivery failed · paid" in text
    assert len(await outbox(sessions, "admin.delivery_failed")) == 2  # both admins
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=underpaid))
    assert {"📦 Fulfil", "↩ Mark refunded off-bot", "✔ Close with a note", "📄 Order details"} <= set(buttons(calls))
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=ids[OrderProblem.delivery_failed]))
    assert {"🔁 Resend delivery", "✔ Close with a note"} <= set(buttons(calls))


async def test_fulfil_underpaid_then_the_observer_leaves_it_alone(tg: Telegram, sessions, settings, goods) -> None:
    ids = await make_problems(tg, sessions, settings, goods)
    order_id = ids[OrderProblem.underpaid]
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.fulfil, id=order_id, problem=OrderProblem.underpaid))
    assert texts(calls)[0].startswith(f"Fulfil order #{order_id}?")
    calls = await tg.press(ADMIN, buttons(calls)["📦 Yes, fulfil"])
    assert alerts(calls) == [f"Order #{order_id} is fulfilled."]
    fulfilled = await order(sessions, order_id)
    assert (fulfilled.status, fulfilled.problem) == (OrderStatus.paid, None)
    assert await units(sessions, StockStatus.sold, order_id) == 1
    assert [c for c, o, _ in await outbox(sessions, "paid") if o == order_id] == [BUYERS[OrderProblem.underpaid].id]
    (paid,) = [a for a in await audit(sessions, order_id) if a.action == "order.paid"]  # the one change
    assert paid.before == {"status": "underpaid", "problem": "underpaid"}
    assert paid.after == {"status": "paid", "problem": None, "sold_units": 1}
    assert (paid.actor, paid.reason) == (f"admin:{ADMIN_ID}", "fulfilled: underpaid")

    due = await _invoice_due(sessions, order_id)
    for _ in range(2):  # the short payment is still all there is: no "reorged" alarm for what the admin accepted
        await pay(sessions, settings, order_id, [due // 2])
    assert (await order(sessions, order_id)).problem is None
    await outbox_sender(tg, sessions, settings, goods).send_due()
    assert any("KEY-Key 0-0000" in t for t in sent_to(tg.session.calls, BUYERS[OrderProblem.underpaid].id))


async def test_fulfil_without_stock_changes_nothing_then_refund(tg: Telegram, sessions, settings, goods) -> None:
    ids = await make_problems(tg, sessions, settings, goods)
    order_id = ids[OrderProblem.paid_late]
    product = await _product_of(sessions, order_id)
    await place(tg, sessions, Person(id=499), product)  # someone else holds the only unit now
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.fulfil_now, id=order_id, problem=OrderProblem.paid_late))
    assert alerts(calls) == ["Not enough stock to fulfil, nothing was changed: Key 2: 0 left"]
    late = await order(sessions, order_id)
    assert (late.status, late.problem) == (OrderStatus.paid_late, OrderProblem.paid_late)
    assert not [a for a in await audit(sessions, order_id) if a.action.startswith("problem.")]

    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.refund, id=order_id, problem=OrderProblem.paid_late))
    assert texts(calls)[0].startswith(f"Order #{order_id}: send a note on the refund")
    calls = await tg.send(ADMIN, "sent back 0.0002 BTC, tx 9f3c")
    assert texts(calls)[0].startswith(f"↩ Order #{order_id} is marked refunded.")
    refunded = await order(sessions, order_id)
    assert (refunded.status, refunded.problem) == (OrderStatus.paid_late, None)
    assert refunded.close_reason == "refunded off-bot: sent back 0.0002 BTC, tx 9f3c"
    assert await outbox(sessions, "refunded") == [(BUYERS[OrderProblem.paid_late].id, order_id, {})]
    (refund,) = [a for a in await audit(sessions, order_id) if a.action == "problem.refund"]
    assert (refund.actor, refund.reason, refund.before, refund.after) == (
        f"admin:{ADMIN_ID}",
        "sent back 0.0002 BTC, tx 9f3c",
        {"status": "paid_late", "problem": "paid_late"},
        {"status": "paid_late", "problem": None},
    )


async def test_close_overpaid_and_reorged_and_resend_a_failed_delivery(tg: Telegram, sessions, settings, goods) -> None:
    ids = await make_problems(tg, sessions, settings, goods)
    for problem in (OrderProblem.overpaid, OrderProblem.reorged):
        await tg.press(ADMIN, ProblemCb(action=ApAction.close, id=ids[problem], problem=problem))
        calls = await tg.send(ADMIN, f"{problem}: settled with the buyer")
        assert texts(calls)[0].startswith(f"✔ The problem of order #{ids[problem]} is closed.")
        assert (await order(sessions, ids[problem])).problem is None
    for _ in range(3):  # still gone from the chain: the closed problem is not raised again
        await pay(sessions, settings, ids[OrderProblem.reorged], [])
    assert (await order(sessions, ids[OrderProblem.reorged])).problem is None

    failed = ids[OrderProblem.delivery_failed]
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.resend, id=failed, problem=OrderProblem.delivery_failed))
    assert alerts(calls) == [f"Order #{failed}: the delivery is queued again."]
    assert (await order(sessions, failed)).problem is None
    await outbox_sender(tg, sessions, settings, goods).send_due()
    assert any("KEY-Key 4-0000" in t for t in sent_to(tg.session.calls, BUYERS[OrderProblem.delivery_failed].id))
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.problems))
    assert texts(calls)[0].count("\n\n#") == 2  # underpaid and paid late are left


async def test_two_admins_resolve_once_and_stale_buttons_refuse(tg: Telegram, sessions, settings, goods) -> None:
    ids = await make_problems(tg, sessions, settings, goods)
    order_id = ids[OrderProblem.underpaid]
    press = ProblemCb(action=ApAction.fulfil_now, id=order_id, problem=OrderProblem.underpaid)
    before = len(tg.session.calls)
    await asyncio.gather(tg.press(ADMIN, press), tg.press(ADMIN_2, press))
    assert sorted(alerts(tg.session.calls[before:])) == [
        f"Order #{order_id} is fulfilled.",
        "This order has moved on (now: paid). Nothing was changed.",
    ]
    assert [a.action for a in await audit(sessions, order_id)].count("order.paid") == 1
    assert await units(sessions, StockStatus.sold, order_id) == 1

    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    assert alerts(calls) == ["This order has moved on (now: paid). Nothing was changed."]
    overpaid = ids[OrderProblem.overpaid]
    await tg.press(ADMIN, ProblemCb(action=ApAction.close, id=overpaid, problem=OrderProblem.reorged))  # stale
    calls = await tg.send(ADMIN, "wrong problem")
    assert texts(calls) == ["This order has moved on (now: paid, overpaid). Nothing was changed."]
    assert (await order(sessions, overpaid)).problem is OrderProblem.overpaid


async def _product_of(sessions, order_id: int) -> int:
    async with sessions() as s:
        return int((await s.execute(select(OrderItem.product_id).where(OrderItem.order_id == order_id))).scalar_one())
