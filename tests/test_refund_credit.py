"""A refund taken as store credit through the real Dispatcher, on SQLite and PostgreSQL: the admin opens a
refund, the buyer presses "Take it as store credit" under its notice, confirms, and the refund's fiat worth is
on their ledger once, the problem closed, with one audit row and both sides told. A double press, another
buyer's press, or a press after the address was given changes nothing."""

from sqlalchemy import select

from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.callbacks import RefundAction, RefundCb
from models.credit import CreditBalance, CreditEntry
from models.enums import OrderProblem, OrderStatus, RefundMethod, RefundStatus
from services.credit.account import CreditService
from tests import test_refunds
from tests.admin_flow import ADMIN, alerts, audit, order, outbox, outbox_sender, rows, sent_to
from tests.conftest import ADMIN_ID
from tests.refund_flow import TAKE_CREDIT, buyer_asked, open_refund, refund_of
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_refunds import BUYER, DUE, HERS, problem_order
from tests.test_webhook import StaticChain

# The refund tests' shop, whose one observer looks at a fake BTC chain, and that chain.
container = test_refunds.container
chain = test_refunds.chain

SOMEONE = Person(id=602, username="mallory")
TAKE_IT = "✅ Yes, take it as store credit"
REFUSED = (
    "This refund can no longer be taken as store credit: you have given an address for it, or the shop withdrew "
    "it, or it is credited already. Nothing was changed."
)


async def ledger(sessions) -> tuple[int, list[tuple[str, int, int, int, str, int | None]]]:
    """(the buyer's stored balance, each entry as (kind, amount, before, after, key, order))."""
    balances = await rows(sessions, select(CreditBalance.balance_minor))
    entries = await rows(
        sessions,
        select(
            CreditEntry.kind,
            CreditEntry.amount_minor,
            CreditEntry.balance_before_minor,
            CreditEntry.balance_after_minor,
            CreditEntry.key,
            CreditEntry.order_id,
        ).order_by(CreditEntry.id),
    )
    return sum(b for (b,) in balances), [tuple(e) for e in entries]


async def test_an_overpaid_orders_refund_taken_as_store_credit_is_credited_once(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    sessions, settings = container.sessions, container.settings
    sender = outbox_sender(tg, sessions, settings, goods)
    order_id = await problem_order(tg, container, chain, 2 * DUE)
    await open_refund(tg, order_id)
    refund = await refund_of(sessions, order_id)
    assert refund.fiat_minor == 1250  # the excess at the invoice's locked rate: 20,834 sat at 60,000 USD

    calls = await buyer_asked(tg, sender, BUYER, TAKE_CREDIT)
    assert texts(calls)[0] == (
        f"💳 Order #{order_id}: instead of <code>0.00020834</code> BTC on chain, take <b>12.50 USD</b> of store "
        "credit?\n\nStore credit pays for orders in this shop and is never paid out. Once taken, the refund is not "
        "sent on chain any more."
    )
    confirm = buttons(calls)[TAKE_IT]
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_address  # asking changes nothing

    for forged in (confirm, RefundCb(action=RefundAction.credit_yes, id=refund.id + 1).pack()):
        assert alerts(await tg.press(SOMEONE, forged)) == [REFUSED]  # another buyer's refund, or none
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_address
    assert await ledger(sessions) == (0, [])

    calls = await tg.press(BUYER, confirm)
    assert texts(calls) == [
        f"💳 Done: 12.50 USD of store credit for order #{order_id}. Your balance is 12.50 USD; it pays at checkout."
    ]
    assert alerts(await tg.press(BUYER, confirm)) == [REFUSED]  # pressed twice: credited once
    asked_again = await tg.press(BUYER, RefundCb(action=RefundAction.address, id=refund.id))  # the old notice
    assert alerts(asked_again) == [
        "This refund does not need an address (any more): it has one, or the shop withdrew it."
    ]

    key = f"refund:{refund.id}"
    assert await ledger(sessions) == (1250, [("refund_credit", 1250, 0, 1250, key, order_id)])
    refund = await refund_of(sessions, order_id)
    assert (refund.status, refund.method, refund.address, refund.txid) == (
        RefundStatus.credited,
        RefundMethod.credit,
        None,
        None,
    )
    assert refund.closed_at is not None
    closed = await order(sessions, order_id)
    assert (closed.status, closed.problem, closed.close_reason) == (OrderStatus.paid, None, "store credit: 12.50 USD")
    assert await outbox(sessions, "credit_refund") == [
        (BUYER.id, order_id, {"amount": "12.50 USD", "balance": "12.50 USD"})
    ]
    assert await outbox(sessions, "admin.refund_credited") == [
        (ADMIN_ID, order_id, {"refund_id": refund.id, "refund": DUE, "credit": "12.50 USD"})
    ]
    steps = [(a.action, a.actor, a.before, a.after) for a in await audit(sessions, order_id) if "credit" in a.action]
    assert steps == [
        (
            "refund.credit",
            f"buyer:{BUYER.id}",
            {"status": "paid", "problem": "overpaid", "refund": "awaiting_address"},
            {
                "status": "paid",
                "problem": None,
                "refund": "credited",
                "refund_id": refund.id,
                "credit_minor": 1250,
                "balance_minor": 1250,
                "key": key,
            },
        )
    ]
    await sender.send_due()
    assert (
        f"💳 12.50 USD of store credit for order #{order_id} is in your account (balance 12.50 USD). "
        "Spend it at checkout."
    ) in sent_to(tg.session.calls, BUYER.id)
    assert (
        f"💳 Order #{order_id}: the buyer took the refund of <code>0.00020834</code> BTC as 12.50 USD of store "
        "credit instead; the problem is closed."
    ) in sent_to(tg.session.calls, ADMIN_ID)
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=order_id))
    assert f"refund taken as store credit · buyer {BUYER.id}" in texts(calls)[0]
    async with sessions() as s:
        assert await CreditService(s, settings).check() == []


async def test_an_underpaid_order_qualifies_through_the_admins_refund_on_its_fiat_basis(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    """An underpaid order gets credit only because the admin opened a refund for it; on the fiat basis the
    credit is the fiat amount the admin chose. The order stays underpaid (closed without its goods)."""
    sessions = container.sessions
    sender = outbox_sender(tg, sessions, container.settings, goods)
    order_id = await problem_order(tg, container, chain, DUE // 2, late=True)
    assert (await order(sessions, order_id)).problem is OrderProblem.underpaid
    calls = await open_refund(tg, order_id, basis="today")
    refund = await refund_of(sessions, order_id)
    assert refund.fiat_minor == 625  # 10,417 sat at the invoice's 60,000 USD, what the admin chose
    calls = await buyer_asked(tg, sender, BUYER, TAKE_CREDIT)
    calls = await tg.press(BUYER, buttons(calls)[TAKE_IT])
    assert texts(calls)[0].startswith(f"💳 Done: 6.25 USD of store credit for order #{order_id}.")
    assert await ledger(sessions) == (625, [("refund_credit", 625, 0, 625, f"refund:{refund.id}", order_id)])
    closed = await order(sessions, order_id)
    assert (closed.status, closed.problem) == (OrderStatus.underpaid, None)


async def test_after_the_address_is_given_the_credit_button_is_refused(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    sessions = container.sessions
    sender = outbox_sender(tg, sessions, container.settings, goods)
    order_id = await problem_order(tg, container, chain, 2 * DUE)
    await open_refund(tg, order_id)
    refund = await refund_of(sessions, order_id)
    await buyer_asked(tg, sender, BUYER)
    await tg.send(BUYER, HERS)
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_payment

    for action in (RefundAction.credit, RefundAction.credit_yes):
        assert alerts(await tg.press(BUYER, RefundCb(action=action, id=refund.id))) == [REFUSED]
    refund = await refund_of(sessions, order_id)
    assert (refund.status, refund.method, refund.address) == (RefundStatus.awaiting_payment, RefundMethod.onchain, HERS)
    assert (await order(sessions, order_id)).problem is OrderProblem.overpaid
    assert await ledger(sessions) == (0, [])
    assert await outbox(sessions, "credit_refund") == []
    assert await outbox(sessions, "admin.refund_credited") == []
