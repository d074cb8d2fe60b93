"""One test per order transition of services/orders/lifecycle.py, run for every trigger that can cause it.

Each test brings an order to where the transition starts through the real code (buttons pressed on the real
Dispatcher, the observer looking at a fake chain), fires the trigger and asserts everything it added, together:
status and problem, the product's stock, the buyer's timeout count, the order's audit rows and outbox rows.
All triggers of a transition are held to one expected change, so they leave the same rows; only the audit
row's actor and reason are the trigger's own. Fired again, and with the lifecycle method called once more
directly, nothing changes.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient, TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr
from sqlalchemy import func, select, update

from bot.container import Container
from handlers.admin.order_views import AdminOrderCb, AoAction, ApAction, ProblemCb
from handlers.callbacks import CartAction, CartCb, OrderAction, OrderCb, PayCb, ProductAction, ProductCb
from models.enums import Chain, OrderProblem, ProductKind
from models.ops import AuditLog, OutboxMessage
from models.orders import Invoice, InvoiceMessage, Order
from models.shop import StockUnit, User
from models.types import utcnow
from processing.observer import Observer
from processing.web import HINT_CHECKS, WebDeps, create_web_app
from repositories.orders import OrderRepo
from services.orders.lifecycle import OBSERVER, OrderLifecycle, admin
from services.payments.seen import SeenPayment
from tests.admin_flow import ADMIN, PARCEL_ADDRESS, alerts, one
from tests.conftest import ADMIN_ID
from tests.recording import BlockedBy
from tests.shop import seed_product
from tests.telegram import Person, Telegram, texts
from tests.test_webhook import SECRET, StaticChain, hint, signed

BUYER = Person(id=501, username="erin")
N = 2  # units ordered of a 12.50 USD product: 25.00 USD, due as 41,667 sat at the fixed 60,000 USD per BTC
DUE, HALF = 41_667, 20_833
REASON, TRACKING, NOTE, ERROR = (
    "out of stock at the warehouse",
    "DHL 0034 <fragile>",
    "sent back, tx 9f3c",
    "blocked by the user",
)
HELD, SOLD = {"available": -N, "reserved": N}, {"reserved": -N, "sold": N}
RELEASED, HELD_AND_SOLD = {"reserved": -N, "available": N}, {"available": -N, "sold": N}
BY_ADMIN = admin(ADMIN_ID)
PAID_NOTICES: tuple[tuple[Any, ...], ...] = ("paid", "buyer", {"overpaid": False}), ("admin.paid", "admin", {})
Row = tuple[Any, ...]
Calls = list[Any]


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})  # BTC depth: 1 confirmation


@pytest.fixture
def container(container):
    """The shop's one observer (its cycle, the check-now button, the webhook) looks at a fake chain."""
    chain = StaticChain(Chain.btc)
    return replace(container, observer=Observer(container.sessions, container.settings, {Chain.btc: chain}))


@dataclass
class Scene:
    tg: Telegram
    shop: Container
    chain: StaticChain
    product: int
    order_id: int = 0  # set by checkout


@pytest.fixture
async def scene(tg, container) -> Scene:
    product = await seed_product(container.sessions, kind=ProductKind.physical, units=5)
    return Scene(tg, container, container.observer.backends[Chain.btc], product)


# What a transition touches -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    state: str  # "status" or "status/problem"; "none" before checkout
    stock: dict[str, int]  # the product's units per status
    timeouts: int
    audit: tuple[Row, ...]  # (action, before, after)
    who: tuple[Row, ...]  # (actor, reason) of each audit row
    outbox: tuple[Row, ...]  # (kind, "buyer" or "admin", params)


@dataclass(frozen=True)
class Change:
    move: str  # "state before -> state after"
    stock: dict[str, int]  # units added per status, zeros left out
    timeouts: int
    audit: tuple[Row, ...]  # the rows added
    outbox: tuple[Row, ...]


async def capture(scene: Scene) -> Capture:
    order_id, recipients = scene.order_id, {BUYER.id: "buyer", ADMIN_ID: "admin"}
    async with scene.shop.sessions() as s:
        order = await s.get(Order, order_id)
        units = select(StockUnit.status, func.count()).where(StockUnit.product_id == scene.product)
        stock = (await s.execute(units.group_by(StockUnit.status))).all()
        timeouts = await s.scalar(select(User.timeout_count).where(User.telegram_id == BUYER.id))
        ours = (AuditLog.entity == "order", AuditLog.entity_id == order_id)
        audit = (await s.scalars(select(AuditLog).where(*ours).order_by(AuditLog.id))).all()
        outbox = (await s.scalars(select(OutboxMessage).filter_by(order_id=order_id).order_by(OutboxMessage.id))).all()
    return Capture(
        "/".join(str(s) for s in (order.status, order.problem) if s) if order else "none",
        {status.value: n for status, n in stock},
        timeouts or 0,
        tuple((a.action, a.before, a.after) for a in audit),
        tuple((a.actor, a.reason) for a in audit),
        tuple((m.kind, recipients.get(m.chat_id, m.chat_id), m.params) for m in outbox),
    )


def added(before: Capture, after: Capture) -> tuple[Change, tuple[Row, ...]]:
    """What happened in between, and who did it. Rows are only ever appended."""
    for rows in ("audit", "who", "outbox"):
        assert getattr(after, rows)[: len(getattr(before, rows))] == getattr(before, rows), f"{rows} rewritten"
    stock = {k: after.stock.get(k, 0) - before.stock.get(k, 0) for k in before.stock.keys() | after.stock.keys()}
    change = Change(
        f"{before.state} -> {after.state}",
        {k: n for k, n in stock.items() if n},
        after.timeouts - before.timeouts,
        after.audit[len(before.audit) :],
        after.outbox[len(before.outbox) :],
    )
    return change, after.who[len(before.who) :]


def change(move: str, audit: Row, *outbox: Row, stock: dict[str, int] | None = None, timeouts: int = 0) -> Change:
    """What one transition adds: exactly one audit row."""
    return Change(move, stock or {}, timeouts, (audit,), outbox)


class InMinutes:
    """Equal to an ISO time about `minutes` from now: a deadline the test cannot know to the microsecond."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes

    def __eq__(self, other: object) -> bool:
        due = utcnow() + timedelta(minutes=self.minutes)
        return isinstance(other, str) and abs(datetime.fromisoformat(other) - due) < timedelta(minutes=1)

    def __repr__(self) -> str:
        return f"<in {self.minutes} minutes>"


# Steps: how an order gets somewhere ----------------------------------------------------------------------------

Step = Callable[[Scene], Awaitable[Any]]  # a button returns the calls it caused
Again = Callable[[OrderLifecycle, Order, Invoice], Awaitable[bool]]


async def invoice(scene: Scene) -> Invoice:
    async with scene.shop.sessions() as s:
        return (await s.execute(select(Invoice).filter_by(order_id=scene.order_id))).scalar_one()


async def invoice_edit(scene: Scene, status: str) -> Row:
    """The edit a transition out of awaiting_payment queues of the invoice message the buyer holds (the one
    checkout showed): it then says `status` and has no buttons."""
    async with scene.shop.sessions() as s:
        (message_id,) = (await s.scalars(select(InvoiceMessage.message_id).filter_by(order_id=scene.order_id))).all()
    return ("invoice_closed", "buyer", {"message_id": message_id, "status": status})


async def in_cart(scene: Scene) -> Calls:
    """The product in the cart, and where to ship it: checkout asks for that first."""
    await scene.tg.press(BUYER, ProductCb(action=ProductAction.add, id=scene.product, qty=N))
    await scene.tg.press(BUYER, CartCb(action=CartAction.checkout))
    return await scene.tg.send(BUYER, PARCEL_ADDRESS)


async def checkout(scene: Scene) -> Calls:
    calls = await scene.tg.press(BUYER, PayCb(chain=Chain.btc))
    async with scene.shop.sessions() as s:
        scene.order_id = await s.scalar(select(func.max(Order.id))) or 0
    return calls


def chain_shows(share: Fraction | int, confirmations: int) -> Step:
    """From now on the chain shows one payment of `share` of the amount due (none for 0)."""

    async def step(scene: Scene) -> None:
        inv = await invoice(scene)
        block = (100, "cd" * 32) if confirmations else (None, None)
        payment = SeenPayment("ab" * 32 + ":0", inv.address, int(inv.amount_due * share), confirmations, *block)
        scene.chain.payments[inv.address] = [payment] if share else []

    return step


async def time_is_up(scene: Scene) -> None:
    async with scene.shop.sessions.begin() as s:
        await s.execute(update(Order).filter_by(id=scene.order_id).values(expires_at=utcnow()))


async def cycle(scene: Scene) -> None:
    await scene.shop.observer.observe(Chain.btc)


async def check_now(scene: Scene) -> Calls:
    return await scene.tg.press(BUYER, OrderCb(action=OrderAction.check, id=scene.order_id))


async def webhook(scene: Scene) -> None:
    settings = scene.shop.settings
    app = create_web_app(WebDeps(scene.shop.sessions, AsyncIOScheduler(timezone="UTC"), scene.shop.observer, settings))
    async with TestClient(TestServer(app)) as client:
        body = hint((await invoice(scene)).address, chain="btc")
        assert (await client.post(settings.webhook_path, data=body, headers=signed(body))).status == 202
        await app[HINT_CHECKS].wait()


async def call_lifecycle(scene: Scene, call: Again) -> bool:
    """A lifecycle method called directly, on the row-locked order in one transaction."""
    async with scene.shop.sessions() as s, s.begin():
        repo = OrderRepo(s)
        order, inv = await repo.locked(scene.order_id), await repo.invoice(scene.order_id)
        assert order is not None and inv is not None
        return await call(OrderLifecycle(s, scene.shop.settings), order, inv)


async def outbox_gives_up(scene: Scene) -> None:
    """The buyer has blocked the bot: the outbox gives up on the delivery."""
    buyer = await one(scene.shop.sessions, select(User.telegram_id).join(Order).where(Order.id == scene.order_id))
    bot = Bot(scene.tg.bot.token, session=BlockedBy(buyer))
    await scene.shop.outbox_sender(bot).send_due()


async def run(scene: Scene, *steps: Step) -> None:
    for step in steps:
        await step(scene)


UNCONFIRMED, IN_FULL, NOTHING = chain_shows(1, 0), chain_shows(1, 1), chain_shows(0, 0)
SHORT, TWICE = chain_shows(Fraction(1, 2), 1), chain_shows(2, 1)
PLACED = (in_cart, checkout)
CONFIRMING = (*PLACED, UNCONFIRMED, cycle)
PAID = (*PLACED, IN_FULL, cycle)
EXPIRED = (*PLACED, time_is_up, cycle)
GRACED = (*PLACED, SHORT, cycle, time_is_up, cycle)  # confirming a short payment, its one extension given
UNDERPAID = (*GRACED, time_is_up, cycle)
LATE = (*EXPIRED, IN_FULL, cycle)


# Triggers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    name: str
    run: Step
    actor: str
    reason: str | None = None  # in the audit row
    refusal: str | None = None  # what the button answers when pressed again


def admin_presses(name: str, data: Callable[[int], Any], text: str | None = None, reason: str | None = None) -> Trigger:
    """An admin presses a button of the order and, when it asks for words, sends `text`."""

    async def press(scene: Scene) -> Calls:
        calls = await scene.tg.press(ADMIN, data(scene.order_id))
        if text and not alerts(calls):  # refused at once: nothing to type
            calls += await scene.tg.send(ADMIN, text)
        return calls

    return Trigger(f"admin_{name}", press, f"admin:{ADMIN_ID}", reason, "has moved on")


def problem_button(action: ApAction, problem: OrderProblem, text: str | None = None) -> Trigger:
    reason = f"fulfilled: {problem}" if action is ApAction.fulfil_now else text
    return admin_presses(
        action.name, lambda order_id: ProblemCb(action=action, id=order_id, problem=problem), text, reason
    )


def order_button(action: AoAction, text: str | None = None, reason: str | None = None) -> Trigger:
    return admin_presses(action.name, lambda order_id: AdminOrderCb(action=action, id=order_id), text, reason)


async def buyer_cancels(scene: Scene) -> Calls:
    """Cancel on the invoice, then "yes" on the question it asks; a refusal comes at the first press."""
    calls = await scene.tg.press(BUYER, OrderCb(action=OrderAction.cancel, id=scene.order_id))
    if alerts(calls):
        return calls
    return await scene.tg.press(BUYER, OrderCb(action=OrderAction.cancel_confirmed, id=scene.order_id))


CHECKOUT = Trigger("buyer_checkout", checkout, f"buyer:{BUYER.id}")
CYCLE = Trigger("observer_cycle", cycle, "observer")
WEBHOOK = Trigger("webhook", webhook, "observer")
LOOKS = (CYCLE, Trigger("check_now", check_now, "observer"), WEBHOOK)
BUYER_CANCEL = Trigger(
    "buyer_cancel", buyer_cancels, f"buyer:{BUYER.id}", "cancelled by buyer", "no longer be cancelled"
)
ADMIN_CANCEL = order_button(AoAction.cancel, REASON, REASON)


async def transition(scene: Scene, trigger: Trigger, expect: Change, again: Again | None) -> None:
    """The trigger adds `expect`, with the trigger as the audit row's actor and reason. Fired again, and with
    the lifecycle method called again directly (`again`), it changes nothing."""
    before = await capture(scene)
    await trigger.run(scene)
    done = await capture(scene)
    assert added(before, done) == (expect, ((trigger.actor, trigger.reason),))
    calls = await trigger.run(scene)
    assert await capture(scene) == done
    assert trigger.refusal is None or any(trigger.refusal in t for t in texts(calls)), texts(calls)
    assert again is None or await call_lifecycle(scene, again) is False
    assert await capture(scene) == done


def name(trigger: Trigger) -> str:
    return trigger.name


# One test per transition -------------------------------------------------------------------------------------


async def test_place(scene: Scene) -> None:
    await run(scene, in_cart)
    placed = ("order.place", None, {"status": "awaiting_payment", "held_units": N})
    expect = change(
        "none -> awaiting_payment", placed, ("admin.new_order", "admin", {"total": "25.00 USD"}), stock=HELD
    )
    await transition(scene, CHECKOUT, expect, None)


@pytest.mark.parametrize("trigger", LOOKS, ids=name)
async def test_see_payment(scene: Scene, trigger: Trigger) -> None:
    await run(scene, *PLACED, UNCONFIRMED)
    seen = ("order.payment_seen", {"status": "awaiting_payment"}, {"status": "confirming"})
    notice = ("payment_seen", "buyer", {"confirmations": 0, "required": 1})
    expect = change("awaiting_payment -> confirming", seen, await invoice_edit(scene, "confirming"), notice)
    await transition(scene, trigger, expect, lambda lc, o, i: lc.see_payment(o, 0, 1))


async def test_lose_payment(scene: Scene) -> None:
    await run(scene, *CONFIRMING, NOTHING, cycle, cycle)  # two cycles without the payment, then the third
    lost = ("order.payment_lost", {"status": "confirming"}, {"status": "awaiting_payment"})
    notices: list[Row] = [("payment_reorged", "buyer", {}), ("admin.reorged", "admin", {})]
    expect = change("confirming -> awaiting_payment", lost, *notices)
    await transition(scene, CYCLE, expect, lambda lc, o, i: lc.lose_payment(o))


@pytest.mark.parametrize("trigger", [look for look in LOOKS if look is not CYCLE], ids=name)
@pytest.mark.parametrize("setup", [CONFIRMING, PAID], ids=["confirming", "paid"])
async def test_a_one_off_look_never_loses_a_payment(scene: Scene, trigger: Trigger, setup: tuple[Step, ...]) -> None:
    """Only the observer's cycles count a payment as missing: a check-now tap or a hint at the moment a
    provider answers "nothing" must not un-credit it or flag it reorged (issue 13, item 5)."""
    await run(scene, *setup, NOTHING, cycle, cycle)
    before = await capture(scene)
    for _ in range(3):
        await trigger.run(scene)
    assert await capture(scene) == before


@pytest.mark.parametrize("trigger", [*LOOKS, order_button(AoAction.confirm, "paid in cash", "paid in cash")], ids=name)
async def test_pay(scene: Scene, trigger: Trigger) -> None:
    await run(scene, *PLACED, IN_FULL)
    paid = ("order.paid", {"status": "awaiting_payment"}, {"status": "paid", "sold_units": N})
    expect = change("awaiting_payment -> paid", paid, await invoice_edit(scene, "paid"), *PAID_NOTICES, stock=SOLD)
    await transition(scene, trigger, expect, lambda lc, o, i: lc.pay(o, OBSERVER, utcnow()))


async def test_pay_more_than_due(scene: Scene) -> None:
    await run(scene, *PLACED, TWICE)
    paid = ("order.paid", {"status": "awaiting_payment"}, {"status": "paid", "sold_units": N, "problem": "overpaid"})
    notices = (
        await invoice_edit(scene, "paid"),
        ("paid", "buyer", {"overpaid": True}),
        ("admin.paid", "admin", {"problem": "overpaid", "overpaid_by": DUE}),
    )
    expect = change("awaiting_payment -> paid/overpaid", paid, *notices, stock=SOLD)
    await transition(scene, CYCLE, expect, lambda lc, o, i: lc.pay(o, OBSERVER, utcnow()))


@pytest.mark.parametrize(
    ("problem", "setup"), [("underpaid", UNDERPAID), ("paid_late", LATE)], ids=["underpaid", "late"]
)
async def test_fulfil(scene: Scene, problem: str, setup: tuple[Step, ...]) -> None:
    await run(scene, *setup)
    paid = ("order.paid", {"status": problem, "problem": problem}, {"status": "paid", "problem": None, "sold_units": N})
    expect = change(f"{problem}/{problem} -> paid", paid, *PAID_NOTICES, stock=HELD_AND_SOLD)
    trigger = problem_button(ApAction.fulfil_now, OrderProblem(problem))
    await transition(scene, trigger, expect, lambda lc, o, i: lc.fulfil(o, BY_ADMIN, utcnow()))


async def test_ship(scene: Scene) -> None:
    await run(scene, *PAID)
    shipped = ("order.ship", {"status": "paid"}, {"status": "shipped", "tracking": TRACKING})
    expect = change("paid -> shipped", shipped, ("shipped", "buyer", {"tracking": "DHL 0034 &lt;fragile&gt;"}))
    await transition(
        scene, order_button(AoAction.ship, TRACKING), expect, lambda lc, o, i: lc.ship(o, BY_ADMIN, "x", utcnow())
    )


@pytest.mark.parametrize(
    ("trigger", "start"),
    [
        (BUYER_CANCEL, "awaiting_payment"),
        (ADMIN_CANCEL, "awaiting_payment"),
        (ADMIN_CANCEL, "confirming"),  # a buyer may not: test_a_buyer_cannot_cancel_a_confirming_order
    ],
    ids=["buyer", "admin", "admin_confirming"],
)
async def test_cancel(scene: Scene, trigger: Trigger, start: str) -> None:
    await run(scene, *(CONFIRMING if start == "confirming" else PLACED))
    cancelled = ("order.cancel", {"status": start}, {"status": "cancelled", "released_units": N})
    if trigger is BUYER_CANCEL:
        by_buyer = {"reason": "cancelled by buyer"}
        notices: list[Row] = [("cancelled", "buyer", by_buyer), ("admin.cancelled", "admin", by_buyer)]
    else:
        by_admin = {"reason": REASON, "admin": ADMIN_ID}
        notices = [("cancelled_by_shop", "buyer", {"reason": REASON}), ("admin.cancelled_by_shop", "admin", by_admin)]
    if start == "awaiting_payment":  # a confirming order's invoice was edited when its payment was seen
        notices.insert(0, await invoice_edit(scene, "cancelled"))
    expect = change(f"{start} -> cancelled", cancelled, *notices, stock=RELEASED)
    await transition(scene, trigger, expect, lambda lc, o, i: lc.cancel(o, BY_ADMIN, "x", utcnow()))


async def test_a_buyer_cannot_cancel_a_confirming_order(scene: Scene) -> None:
    await run(scene, *CONFIRMING)
    before = await capture(scene)
    calls = await BUYER_CANCEL.run(scene)
    assert await capture(scene) == before
    assert any("no longer be cancelled" in t for t in texts(calls))


EXPIRED_BY = [replace(CYCLE, reason="not paid in time"), order_button(AoAction.expire_now, reason="expired by admin")]


@pytest.mark.parametrize("trigger", EXPIRED_BY, ids=name)
async def test_expire(scene: Scene, trigger: Trigger) -> None:
    await run(scene, *PLACED, time_is_up)
    expired = ("order.expire", {"status": "awaiting_payment"}, {"status": "expired", "released_units": N})
    notices: list[Row] = [
        await invoice_edit(scene, "expired"),
        ("expired", "buyer", {}),
        ("admin.expired", "admin", {}),
    ]
    expect = change("awaiting_payment -> expired", expired, *notices, stock=RELEASED, timeouts=1)
    await transition(scene, trigger, expect, lambda lc, o, i: lc.expire(o, OBSERVER, utcnow(), "x"))


async def test_extend_grace(scene: Scene) -> None:
    await run(scene, *PLACED, SHORT, cycle, time_is_up)
    grace = ("order.grace", {"status": "confirming"}, {"status": "confirming", "expires_at": InMinutes(30)})
    notice = ("underpaid_grace", "buyer", {"remainder": DUE - HALF, "minutes": 30})
    expect = change("confirming -> confirming", grace, notice)
    await transition(scene, CYCLE, expect, lambda lc, o, i: lc.extend_grace(o, i, utcnow(), 1))


async def test_close_underpaid(scene: Scene) -> None:
    await run(scene, *GRACED, time_is_up)
    after = {"status": "underpaid", "released_units": N, "problem": "underpaid"}
    closed = ("order.underpaid", {"status": "confirming"}, after)
    buyer, admins = (
        ("underpaid", "buyer", {"received": HALF}),
        ("admin.problem", "admin", {"problem": "underpaid", "received": HALF, "short_by": DUE - HALF}),
    )
    expect = change("confirming -> underpaid/underpaid", closed, buyer, admins, stock=RELEASED, timeouts=1)
    await transition(scene, CYCLE, expect, lambda lc, o, i: lc.close_underpaid(o, utcnow(), 1, 2))


@pytest.mark.parametrize("trigger", [CYCLE, WEBHOOK], ids=name)  # no "check now" button on a closed order
async def test_pay_late(scene: Scene, trigger: Trigger) -> None:
    await run(scene, *EXPIRED, IN_FULL)
    late = ("order.paid_late", {"status": "expired"}, {"status": "paid_late", "problem": "paid_late"})
    expect = change(
        "expired -> paid_late/paid_late", late, ("admin.problem", "admin", {"problem": "paid_late", "received": DUE})
    )
    await transition(scene, trigger, expect, lambda lc, o, i: lc.pay_late(o, 1))


async def test_flag_reorged(scene: Scene) -> None:
    await run(scene, *PAID, NOTHING, cycle, cycle)
    flagged = ("order.reorged", {"status": "paid"}, {"status": "paid", "problem": "reorged"})
    expect = change("paid -> paid/reorged", flagged, ("admin.problem", "admin", {"problem": "reorged", "received": 0}))
    await transition(scene, CYCLE, expect, lambda lc, o, i: lc.flag_reorged(o, 0))


async def test_flag_undelivered(scene: Scene) -> None:
    await run(scene, *PAID)
    flagged = ("order.delivery_failed", {"status": "paid"}, {"status": "paid", "problem": "delivery_failed"})
    expect = change("paid -> paid/delivery_failed", flagged, ("admin.delivery_failed", "admin", {"error": ERROR}))
    trigger = Trigger("outbox", outbox_gives_up, "outbox")
    await transition(scene, trigger, expect, lambda lc, o, i: lc.flag_undelivered(o, ERROR))


@pytest.mark.parametrize("refunded", [True, False], ids=["refund", "close"])
async def test_close_problem(scene: Scene, refunded: bool) -> None:
    await run(scene, *PLACED, TWICE, cycle)
    closed = ({"status": "paid", "problem": "overpaid"}, {"status": "paid", "problem": None})
    audit = ("problem.refund" if refunded else "problem.close", *closed)
    notices: list[Row] = [("refunded", "buyer", {})] if refunded else []
    expect = change("paid/overpaid -> paid", audit, *notices)
    trigger = problem_button(ApAction.refund if refunded else ApAction.close, OrderProblem.overpaid, NOTE)
    await transition(
        scene, trigger, expect, lambda lc, o, i: lc.close_problem(o, BY_ADMIN, "x", refunded=refunded, now=utcnow())
    )


async def test_resend(scene: Scene) -> None:
    await run(scene, *PAID, outbox_gives_up)
    resent = ("problem.resend", {"problem": "delivery_failed"}, {"problem": None})
    expect = change("paid/delivery_failed -> paid", resent, PAID_NOTICES[0])
    trigger = problem_button(ApAction.resend, OrderProblem.delivery_failed)
    await transition(scene, trigger, expect, lambda lc, o, i: lc.resend(o, BY_ADMIN))
