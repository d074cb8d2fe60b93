"""Refunds on chain through the real Dispatcher, on SQLite and PostgreSQL: the admin opens one from the
problem queue, the buyer answers the address prompt, and the observer (looking at a fake chain) closes it
when exactly the amount arrives at depth at that address, once; a hand-entered transaction id is checked
on chain first. Bad addresses, wrong amounts and payments elsewhere change nothing."""

import csv
import io
import itertools
from dataclasses import replace
from decimal import Decimal

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendDocument, SendPhoto
from sqlalchemy import func, select, update

from bot.factory import create_bot, create_dispatcher
from handlers.admin.order_views import AdminOrderCb, AoAction, ApAction, ProblemCb
from handlers.admin.refund_views import ArAction, RefundAdminCb
from handlers.admin.stats import StatsAction, StatsCb
from handlers.callbacks import PayCb, ProductAction, ProductCb
from models.enums import Chain, OrderProblem, OrderStatus, RefundBasis, RefundStatus
from models.ops import AuditLog
from models.orders import Invoice, Order, Refund
from models.types import utcnow
from processing.observer import Observer
from services.admin.stats import Period
from services.payments.rates import rate_service_from_settings
from services.payments.seen import SeenPayment
from tests.admin_flow import ADMIN, alerts, audit, one, order, outbox, outbox_sender, pay, place, sent_to
from tests.conftest import ADMIN_ID, RATES
from tests.recording import RecordingSession
from tests.refund_flow import buyer_asked, ltc_address, open_refund, refund_of
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_assets import USDT_ETH
from tests.test_webhook import StaticChain

BUYER = Person(id=601, username="rita")
DUE = 20_834  # 12.50 USD at 60,000 USD per BTC, rounded up to the satoshi
HERS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"  # the buyer's own wallet
ELSEWHERE = "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"
TIP = 100  # the fake chain's height when the buyer gives the address
CATEGORIES = itertools.count()


@pytest.fixture
def container(container):
    """The shop's one observer looks at a fake BTC chain."""
    return replace(
        container, observer=Observer(container.sessions, container.settings, {Chain.btc: StaticChain(Chain.btc)})
    )


@pytest.fixture
def chain(container) -> StaticChain:
    backend = container.observer.backends[Chain.btc]
    assert isinstance(backend, StaticChain)
    return backend


def paid(natural_id: str, address: str, amount: int, height: int | None = TIP + 1, confirmations: int = 1):
    block = None if height is None else "cd" * 32
    return SeenPayment(natural_id, address, amount, confirmations if height else 0, height, block)


async def problem_order(tg: Telegram, container, chain: StaticChain, received: int, *, late: bool = False) -> int:
    """An order paid on the fake chain with `received` satoshi (due: 20,834), brought to its problem by the
    observer: overpaid, or with `late` underpaid (short after its time and grace) or paid late."""
    product = await seed_product(container.sessions, units=1, category=f"Category {next(CATEGORIES)}")
    order_id = await place(tg, container.sessions, BUYER, product)
    address = await one(container.sessions, select(Invoice.address).where(Invoice.order_id == order_id))
    if late:
        async with container.sessions.begin() as s:
            await s.execute(update(Order).where(Order.id == order_id).values(expires_at=utcnow(), grace_used=True))
    chain.payments[address] = [paid(f"{order_id:064x}:0", address, received, height=90, confirmations=11)]
    await container.observer.observe(Chain.btc)
    return order_id


async def refunds(sessions) -> list[Refund]:
    async with sessions() as s:
        return list((await s.execute(select(Refund).order_by(Refund.id))).scalars())


async def test_an_overpaid_order_is_refunded_on_chain_when_exactly_the_excess_arrives(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    sessions, settings = container.sessions, container.settings
    order_id = await problem_order(tg, container, chain, 2 * DUE)
    assert (await order(sessions, order_id)).problem is OrderProblem.overpaid

    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["💸 Refund on chain"])
    assert texts(calls)[0].split("\n\n") == [
        f"💸 <b>Refund for order #{order_id}</b> (overpaid). What goes back?",
        "• The coins as they arrived: <code>0.00020834</code> BTC (worth 12.50 USD at the invoice rate).",
        "• What they were worth, 12.50 USD at the invoice rate, at today's rate: <code>0.00020834</code> BTC.",
    ]
    calls = await tg.press(ADMIN, buttons(calls)["0.00020834 BTC (the coins)"])
    assert alerts(calls) == [f"Refund opened for order #{order_id}: the buyer is asked for an address."]
    assert "Waiting for the buyer's address." in texts(calls)[0]
    assert "✔ Close with a note" not in buttons(calls)  # the refund is the way to resolve it now
    (refund,) = await refunds(sessions)
    assert (refund.status, refund.basis, refund.amount, refund.fiat_minor) == (
        RefundStatus.awaiting_address,
        RefundBasis.coin,
        DUE,
        1250,
    )
    assert await outbox(sessions, "refund_ask") == [(BUYER.id, order_id, {"refund_id": refund.id, "refund": DUE})]

    sender = outbox_sender(tg, sessions, settings, goods)
    calls = await buyer_asked(tg, sender, BUYER)
    assert texts(calls)[0].startswith(f"💸 Refund for order #{order_id}: <code>0.00020834</code> BTC.")
    assert any("the shop will refund you <code>0.00020834</code> BTC" in t for t in sent_to(tg.session.calls, BUYER.id))
    calls = await tg.send(BUYER, f"  {HERS.upper()}  ")  # as a QR code writes it
    assert texts(calls) == [
        f"Thank you. <code>0.00020834</code> BTC for order #{order_id} will be sent to\n<code>{HERS}</code>\n"
        "You will get a message here once it has arrived."
    ]
    refund = await refund_of(sessions, order_id)
    assert (refund.status, refund.address, refund.watch_from) == (RefundStatus.awaiting_payment, HERS, TIP)
    uri = f"bitcoin:{HERS}?amount=0.00020834"
    assert await outbox(sessions, "admin.refund_ready") == [
        (ADMIN_ID, order_id, {"refund_id": refund.id, "refund": DUE, "to": HERS, "uri": uri})
    ]
    await sender.send_due()
    (ready,) = [t for t in sent_to(tg.session.calls, ADMIN_ID) if "refund address is in" in t]
    assert f"<code>{uri}</code>" in ready
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["🔗 Payment link and QR"])
    (photo,) = [c for c in calls if isinstance(c, SendPhoto)]
    assert photo.chat_id == ADMIN_ID and f"<code>{uri}</code>" in (photo.caption or "")
    assert f"send exactly <code>0.00020834</code> BTC to\n<code>{HERS}</code>" in (photo.caption or "")

    near_misses = [
        paid("01" * 32 + ":0", HERS, DUE, height=TIP),  # the same amount, but before the address came in
        paid("02" * 32 + ":1", HERS, DUE - 1),  # one satoshi short
        paid("03" * 32 + ":0", HERS, DUE + 1),  # one satoshi more
        paid("04" * 32 + ":0", HERS, DUE, height=None),  # still in the mempool
    ]
    chain.payments[HERS] = near_misses
    chain.payments[ELSEWHERE] = [paid("05" * 32 + ":0", ELSEWHERE, DUE)]  # to another address
    for _ in range(2):
        await container.observer.observe(Chain.btc)
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_payment
    assert (await order(sessions, order_id)).problem is OrderProblem.overpaid

    chain.payments[HERS] = [*near_misses, paid("06" * 32 + ":1", HERS, DUE)]
    for _ in range(3):  # closed once, whatever the observer sees again
        await container.observer.observe(Chain.btc)
    refund = await refund_of(sessions, order_id)
    assert (refund.status, refund.txid) == (RefundStatus.refunded, "06" * 32 + ":1")
    closed = await order(sessions, order_id)
    assert (closed.status, closed.problem, closed.close_reason) == (
        OrderStatus.paid,
        None,
        f"refunded: {'06' * 32}:1",
    )
    assert await outbox(sessions, "refund_sent") == [(BUYER.id, order_id, {"refund": DUE, "txid": "06" * 32 + ":1"})]
    assert len(await outbox(sessions, "admin.refunded")) == 1
    await sender.send_due()
    assert any(
        t == f"✅ Order #{order_id}: your refund of <code>0.00020834</code> BTC has arrived (transaction "
        f"<code>{'06' * 32}:1</code>)."
        for t in sent_to(tg.session.calls, BUYER.id)
    )
    steps = [(a.action, a.actor, a.before, a.after) for a in await audit(sessions, order_id) if "refund" in a.action]
    assert steps == [
        (
            "refund.open",
            f"admin:{ADMIN_ID}",
            {"status": "paid", "problem": "overpaid", "refund": None},
            {
                "status": "paid",
                "problem": "overpaid",
                "refund": "awaiting_address",
                "refund_id": refund.id,
                "amount": DUE,
                "asset": "BTC",
                "basis": "coin",
            },
        ),
        (
            "refund.address",
            f"buyer:{BUYER.id}",
            {"status": "paid", "problem": "overpaid", "refund": "awaiting_address"},
            {
                "status": "paid",
                "problem": "overpaid",
                "refund": "awaiting_payment",
                "refund_id": refund.id,
                "address": HERS,
                "watch_from": TIP,
            },
        ),
        (
            "refund.paid",
            "observer",
            {"status": "paid", "problem": "overpaid", "refund": "awaiting_payment"},
            {
                "status": "paid",
                "problem": None,
                "refund": "refunded",
                "refund_id": refund.id,
                "txid": "06" * 32 + ":1",
            },
        ),
    ]
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=order_id))
    assert "refunded on chain · automatic" in texts(calls)[0]
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.export, period=Period.today))
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    (row,) = list(csv.DictReader(io.StringIO(document.document.data.decode())))  # type: ignore[union-attr]
    assert (row["refund"], row["refund_amount"], row["refund_address"], row["refund_txid"]) == (
        "refunded",
        "0.00020834",
        HERS,
        "06" * 32,
    )


async def test_bad_refund_addresses_are_refused_clearly_and_change_nothing(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    sessions, settings = container.sessions, container.settings
    order_id = await problem_order(tg, container, chain, 2 * DUE)
    own = await one(sessions, select(Invoice.address).where(Invoice.order_id == order_id))
    await open_refund(tg, order_id)
    await buyer_asked(tg, outbox_sender(tg, sessions, settings, goods), BUYER)
    rows_before = await one(sessions, select(func.count()).select_from(AuditLog))
    answers = {
        "not an address": "That is not a BTC address. Please send it exactly as your wallet shows it.",
        HERS[:-1] + "p": "That address has a typo: its checksum does not match. Please copy it from your wallet again.",
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx": "That is a testnet address, but the shop runs on mainnet. "
        "Please send a BTC address for mainnet.",
        "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn": "That is a testnet address, but the shop runs on mainnet. "
        "Please send a BTC address for mainnet.",
        ltc_address(): "That is a LTC address, but this refund is paid in BTC. Please send a BTC address.",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed": "That is a ETH address, but this refund is paid in BTC. "
        "Please send a BTC address.",
        "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM": "That is a SOL address, but this refund is paid in BTC. "
        "Please send a BTC address.",
        own: "That is one of the shop's own payment addresses. Please send an address of your own wallet.",
    }
    for text, answer in answers.items():
        assert texts(await tg.send(BUYER, text)) == [answer], text
    refund = await refund_of(sessions, order_id)
    assert (refund.status, refund.address, refund.watch_from) == (RefundStatus.awaiting_address, None, None)
    assert await one(sessions, select(func.count()).select_from(AuditLog)) == rows_before
    assert await outbox(sessions, "admin.refund_ready") == []
    calls = await tg.send(BUYER, HERS)  # still asked: the right one is taken
    assert texts(calls)[0].startswith("Thank you.")
    assert (await refund_of(sessions, order_id)).address == HERS


async def test_the_address_is_not_taken_while_the_chain_cannot_be_asked(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    sessions = container.sessions
    order_id = await problem_order(tg, container, chain, 2 * DUE)
    await open_refund(tg, order_id)
    await buyer_asked(tg, outbox_sender(tg, sessions, container.settings, goods), BUYER)
    chain.down = True
    assert texts(await tg.send(BUYER, HERS)) == [
        "The BTC network could not be reached just now, so the address was not taken. Please send it again in a minute."
    ]
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_address
    chain.down, chain.tip = False, 120
    assert texts(await tg.send(BUYER, HERS))[0].startswith("Thank you.")
    assert (await refund_of(sessions, order_id)).watch_from == 120


async def test_a_hand_entered_transaction_id_is_checked_on_chain_before_closing(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    """An underpaid order, refunded at today's rate: the invoice's rate was twice today's, so its value is
    twice the coins that arrived."""
    sessions, half = container.sessions, DUE // 2
    order_id = await problem_order(tg, container, chain, half, late=True)
    assert (await order(sessions, order_id)).status is OrderStatus.underpaid
    async with sessions.begin() as s:
        await s.execute(update(Invoice).where(Invoice.order_id == order_id).values(rate=Decimal(120_000)))
    calls = await open_refund(tg, order_id, basis="today")
    refund = await refund_of(sessions, order_id)
    assert (refund.basis, refund.amount, refund.rate, refund.fiat_minor) == (
        RefundBasis.fiat,
        DUE,
        Decimal(60_000),
        1250,
    )
    await buyer_asked(tg, outbox_sender(tg, sessions, container.settings, goods), BUYER)
    await tg.send(BUYER, HERS)
    chain.payments[HERS] = [
        paid("0a" * 32 + ":0", HERS, DUE - 1000),  # short
        paid("0b" * 32 + ":0", HERS, DUE, height=None),  # in the mempool
    ]
    chain.payments[ELSEWHERE] = [paid("0c" * 32 + ":0", ELSEWHERE, DUE)]
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["🧾 Enter the transaction id"])
    assert texts(calls)[0].startswith(f"Order #{order_id}: send the id of the transaction that paid the refund.")
    nothing = "Nothing was changed"
    for txid, answer in {
        "0A" * 32: f"That transaction pays <code>{HERS}</code>, but not exactly <code>0.00020834</code> BTC.",
        "0b" * 32: "That transaction pays exactly <code>0.00020834</code> BTC to the address but has fewer than 1 "
        "confirmations.",
        "0c" * 32: f"The chain shows no payment by that transaction to <code>{HERS}</code> since the buyer gave it.",
        "ff" * 32: f"The chain shows no payment by that transaction to <code>{HERS}</code> since the buyer gave it.",
    }.items():
        (text,) = texts(await tg.send(ADMIN, txid))
        assert text.startswith(answer) and nothing in text, txid
    chain.down = True
    (text,) = texts(await tg.send(ADMIN, "0b" * 32))
    assert text == "The BTC network could not be asked just now. Nothing was changed; try again in a minute."
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_payment
    assert await outbox(sessions, "refund_sent") == []

    chain.down = False
    chain.payments[HERS][1] = paid("0b" * 32 + ":0", HERS, DUE)  # mined
    (text, *_) = texts(await tg.send(ADMIN, "0B" * 32))
    assert text.startswith(f"✅ Order #{order_id}: the refund is confirmed on chain, the buyer is told")
    refund = await refund_of(sessions, order_id)
    assert (refund.status, refund.txid) == (RefundStatus.refunded, "0b" * 32 + ":0")
    assert (await order(sessions, order_id)).problem is None
    (paid_row,) = [a for a in await audit(sessions, order_id) if a.action == "refund.paid"]
    assert paid_row.actor == f"admin:{ADMIN_ID}"
    await container.observer.observe(Chain.btc)  # the observer finds it too: nothing more happens
    assert len(await outbox(sessions, "refund_sent")) == 1


async def test_one_payment_closes_one_refund(tg: Telegram, container, chain: StaticChain, goods) -> None:
    """Two overpaid orders of the same buyer, the same excess refunded to the same address: one payment of
    that amount closes the older refund only."""
    sessions = container.sessions
    sender = outbox_sender(tg, sessions, container.settings, goods)
    first = await problem_order(tg, container, chain, 2 * DUE)
    second = await problem_order(tg, container, chain, 2 * DUE)
    for order_id in (first, second):
        await open_refund(tg, order_id)
        await buyer_asked(tg, sender, BUYER)
        await tg.send(BUYER, HERS)
    chain.payments[HERS] = [paid("0d" * 32 + ":0", HERS, DUE)]
    await container.observer.observe(Chain.btc)
    assert [(r.order_id, r.status) for r in await refunds(sessions)] == [
        (first, RefundStatus.refunded),
        (second, RefundStatus.awaiting_payment),
    ]
    chain.payments[HERS].append(paid("0e" * 32 + ":0", HERS, DUE))
    await container.observer.observe(Chain.btc)
    assert [(r.order_id, r.status, r.txid) for r in await refunds(sessions)] == [
        (first, RefundStatus.refunded, "0d" * 32 + ":0"),
        (second, RefundStatus.refunded, "0e" * 32 + ":0"),
    ]


async def test_an_open_refund_is_the_only_resolution_until_it_is_cancelled(
    tg: Telegram, container, chain: StaticChain, goods
) -> None:
    sessions = container.sessions
    sender = outbox_sender(tg, sessions, container.settings, goods)
    order_id = await problem_order(tg, container, chain, DUE // 2, late=True)  # underpaid: fulfil is offered
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    assert {"📦 Fulfil", "💸 Refund on chain", "↩ Mark refunded off-bot", "✔ Close with a note"} <= set(buttons(calls))
    stale = buttons(calls)  # pressed later, after the refund was opened
    await open_refund(tg, order_id)
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    assert set(buttons(calls)) == {"✖ Cancel the refund", "📄 Order details", "⬅ Back"}
    await tg.press(ADMIN, stale["✔ Close with a note"])
    assert texts(await tg.send(ADMIN, "settled"))[0].startswith("This order has moved on")
    assert alerts(await tg.press(ADMIN, stale["📦 Fulfil"]))[0].startswith("This order has moved on")
    fulfil_now = ProblemCb(action=ApAction.fulfil_now, id=order_id, problem=OrderProblem.underpaid)  # confirmed before
    assert alerts(await tg.press(ADMIN, fulfil_now))[0].startswith("This order has moved on")
    assert alerts(await tg.press(ADMIN, stale["💸 Refund on chain"]))[0].startswith("This order has moved on")
    assert (await order(sessions, order_id)).problem is OrderProblem.underpaid
    assert len(await refunds(sessions)) == 1

    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["✖ Cancel the refund"])
    assert texts(calls)[0].startswith(f"Cancel the refund for order #{order_id}?")
    calls = await tg.press(ADMIN, buttons(calls)["✖ Yes, cancel it"])
    assert alerts(calls) == [f"The refund for order #{order_id} is cancelled."]
    assert "💸 Refund on chain" in buttons(calls)  # the problem is open again, a new refund may be offered
    assert (await refund_of(sessions, order_id)).status is RefundStatus.cancelled
    assert [c for c, *_ in await outbox(sessions, "refund_cancelled")] == [BUYER.id]
    calls = await buyer_asked(tg, sender, BUYER)  # the buyer presses the old notice's button
    assert alerts(calls) == ["This refund does not need an address (any more): it has one, or the shop withdrew it."]
    (cancel,) = [a for a in await audit(sessions, order_id) if a.action == "refund.cancel"]
    assert (cancel.before or {}).get("refund") == "awaiting_address"
    assert (cancel.after or {}).get("refund") == "cancelled"


async def test_a_token_invoice_is_refunded_off_bot_and_the_admin_is_told_so(container, wallet) -> None:
    """An overpaid USDT invoice on Ethereum: the bot neither offers nor opens a refund in a token (its token
    backends watch fresh invoice addresses only). The problem view shows the amounts in USDT and says to
    refund off-bot; refund buttons pressed anyway are refused with that message and store nothing; marking
    it refunded off-bot closes the problem."""
    settings = container.settings.model_copy(update={"rates_fixed": RATES | {"USDT": Decimal(1)}})
    shop = replace(
        container,
        settings=settings,
        wallet=replace(wallet, tokens=(USDT_ETH,)),
        rates=rate_service_from_settings(settings),
    )
    recording = RecordingSession()
    tg = Telegram(dp=create_dispatcher(shop, MemoryStorage()), bot=create_bot(settings, recording), session=recording)
    sessions = shop.sessions
    product = await seed_product(sessions, units=1, category=f"Category {next(CATEGORIES)}")
    await tg.press(BUYER, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(BUYER, PayCb(chain=Chain.eth, token="USDT"))
    invoice = await one(sessions, select(Invoice).order_by(Invoice.id.desc()).limit(1))
    assert (invoice.asset, invoice.token, invoice.amount_due) == ("USDT", USDT_ETH.token, 12_500_000)
    await pay(sessions, settings, invoice.order_id, [2 * invoice.amount_due], confirmations=12)
    order_id = invoice.order_id
    assert (await order(sessions, order_id)).problem is OrderProblem.overpaid

    refused = (
        "Refunds in a token are not sent or watched by the bot: refund this one off-bot, from your own wallet, "
        "then close the problem here."
    )
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    text = texts(calls)[0]
    assert "Due <code>12.5</code> USDT · Ethereum, received <code>25</code> USDT · Ethereum" in text
    assert text.endswith(refused)
    assert "💸 Refund on chain" not in buttons(calls) and "↩ Mark refunded off-bot" in buttons(calls)
    for action in (ArAction.start, ArAction.coin, ArAction.fiat):  # pressed anyway: an old or forged button
        pressed = RefundAdminCb(action=action, id=order_id, problem=OrderProblem.overpaid)
        assert alerts(await tg.press(ADMIN, pressed)) == [refused], action
    assert await refunds(sessions) == []
    assert (await order(sessions, order_id)).problem is OrderProblem.overpaid

    calls = await tg.press(ADMIN, buttons(calls)["↩ Mark refunded off-bot"])
    await tg.send(ADMIN, "12.5 USDT sent from the shop's wallet")
    assert (await order(sessions, order_id)).problem is None
    assert await refunds(sessions) == []
