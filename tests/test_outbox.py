"""The outbox in its three parts: rendering a notice (handlers.notices), the sending loop's retries and
give-ups (processing.outbox over services.outbox), and the expiry reminder that queues one."""

from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage, TelegramMethod
from sqlalchemy import select, update

from handlers.admin.order_views import open_order
from handlers.callbacks import OrderAction, OrderCb
from handlers.goods import MESSAGE_LIMIT
from handlers.notices import NoticeRenderer
from l10n import Translator
from models.chains import CHAINS
from models.enums import Chain, OrderProblem, OutboxStatus
from models.ops import OutboxMessage
from models.orders import Order
from models.types import utcnow
from processing.outbox import MAX_ATTEMPTS, OutboxSender
from repositories.orders import OrderRepo
from services.delivery import Notice, OutboxDelivery
from services.orders.reminders import ExpiryReminders
from services.wallet.goods import GoodsCipher
from tests.admin_flow import SECOND_ADMIN, one, order, outbox, pay, place, rows
from tests.conftest import ADMIN_ID, TOKEN
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram

BUYER = Person(id=610)
render = NoticeRenderer(Translator(), "en")
en, de = Translator()("en"), Translator()("de")


def notice(kind: str, order_id: int | None = 7, **fields: Any) -> Notice:
    return Notice(
        id=1,
        kind=kind,
        chat_id=BUYER.id,
        order_id=order_id,
        params=fields.pop("params", {}),
        attempts=1,
        language=fields.pop("language", "en"),
        **fields,
    )


def test_a_delivery_that_outgrows_one_message_sends_its_goods_as_a_file() -> None:
    goods = ["A" * 3000, "B" * 3000, "<tag>"]
    rendered = render(notice("paid", unit=CHAINS[Chain.btc].native, address="bc1q", goods=goods))
    assert rendered.text == en("notify.paid", order_id=7) + "\n" + en("goods.in_file")
    (document,) = rendered.documents
    assert document.filename == "order-7.txt"
    assert document.data == ("A" * 3000 + "\n" + "B" * 3000 + "\n<tag>\n").encode()  # as they are
    assert (
        rendered.markup is not None
        and rendered.markup.inline_keyboard[0][0].callback_data == OrderCb(action=OrderAction.view, id=7).pack()
    )


def test_a_delivery_that_fits_one_message_is_one_message_with_its_goods_escaped() -> None:
    goods = ["A" * 3000, "<tag>"]
    rendered = render(notice("paid", unit=CHAINS[Chain.btc].native, address="bc1q", goods=goods))
    text = en("notify.paid", order_id=7) + "\n<code>" + "A" * 3000 + "</code>\n<code>&lt;tag&gt;</code>"
    assert (rendered.text, rendered.documents) == (text, ())
    assert len(rendered.text) <= MESSAGE_LIMIT


def test_a_delivery_without_goods_says_it_ships_and_notes_an_overpayment() -> None:
    rendered = render(notice("paid", params={"overpaid": True}))
    assert rendered.text == (
        en("notify.paid", order_id=7) + "\n\n" + en("notify.overpaid_note") + "\n" + en("notify.ship_soon")
    )
    assert rendered.documents == ()


def test_an_admin_notice_shows_amounts_in_coins_and_the_problem_in_words() -> None:
    rendered = render(
        notice(
            "admin.problem",
            params={"problem": OrderProblem.underpaid.value, "received": "10417", "short_by": 31250},
            unit=CHAINS[Chain.btc].native,
            address="bc1q",
            language="de",
        )
    )
    expected = de("notify.admin.problem.underpaid", order_id=7, short_by="0.0003125", received="0.00010417", coin="BTC")
    assert rendered.text == expected and "um 0.0003125 BTC unterbezahlt" in expected
    assert rendered.markup is not None and rendered.markup.inline_keyboard[0][0].callback_data == open_order(7).pack()


@pytest.mark.parametrize(
    ("kind", "params", "says"),
    [
        ("admin.paid", {}, "💰 Order #7 is paid."),
        (
            "admin.paid",
            {"problem": "overpaid", "overpaid_by": 20834},
            "💰 Order #7 is paid, and overpaid by 0.00020834 BTC.",
        ),
        (
            "admin.problem",
            {"problem": "underpaid", "received": 10417, "short_by": 31250},
            "⚠ Order #7 is underpaid by 0.0003125 BTC (0.00010417 BTC received)",
        ),
        (
            "admin.problem",
            {"problem": "paid_late", "received": 41667},
            "⚠ Order #7 was paid late: 0.00041667 BTC arrived after it had closed.",
        ),
        ("admin.problem", {"problem": "reorged", "received": 0}, "confirmed money vanished in a reorg (0 BTC"),
    ],
    ids=["paid", "overpaid", "underpaid", "paid_late", "reorged"],
)
def test_an_admin_alert_names_the_kind_of_event(kind: str, params: dict[str, Any], says: str) -> None:
    """Issue 17: an overpayment reached admins only as "order paid"."""
    assert says in render(notice(kind, params=params, unit=CHAINS[Chain.btc].native, address="bc1q")).text


def test_an_invoice_closed_notice_rewrites_the_invoice_without_buttons() -> None:
    for status in ("confirming", "paid", "cancelled", "expired", "underpaid"):
        rendered = render(notice("invoice_closed", params={"message_id": 1001, "status": status}, language="de"))
        assert (rendered.text, rendered.markup) == (de(f"notify.invoice_closed.{status}", order_id=7), None)
    assert (
        "expired unpaid. This invoice is closed"
        in render(notice("invoice_closed", params={"message_id": 1001, "status": "expired"})).text
    )


def test_a_chat_that_is_no_user_reads_the_default_language_and_a_broadcast_has_no_button() -> None:
    rendered = NoticeRenderer(Translator(), "de")(
        notice("broadcast", order_id=None, params={"text": "Hallo"}, language=None)
    )
    assert (rendered.text, rendered.markup) == ("Hallo", None)
    rendered = NoticeRenderer(Translator(), "de")(notice("expired", language=None))
    assert rendered.text == de("notify.expired", order_id=7)


class Unreachable(RecordingSession):
    """A Bot API that never answers one chat (network trouble: retried, not a verdict on the message)."""

    def __init__(self, chat_id: int) -> None:
        super().__init__()
        self._chat_id = chat_id

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        if getattr(method, "chat_id", None) == self._chat_id:
            raise TelegramNetworkError(method=method, message="connection reset")
        return await super().make_request(bot, method, timeout)


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"admin_ids": frozenset({ADMIN_ID, SECOND_ADMIN})})


async def test_a_failing_delivery_backs_off_then_fails_for_good_and_is_flagged_once(
    tg: Telegram, sessions, settings, goods
) -> None:
    order_id = await place(tg, sessions, BUYER, await seed_product(sessions, units=1, goods=goods))
    await pay(sessions, settings, order_id)
    sender = OutboxSender(
        OutboxDelivery(sessions, goods, settings),
        Bot(TOKEN, session=Unreachable(BUYER.id)),
        NoticeRenderer(Translator(), "en"),
    )
    paid = select(OutboxMessage).where(OutboxMessage.kind == "paid", OutboxMessage.chat_id == BUYER.id)

    before = utcnow()
    await sender.send_due()
    message = await one(sessions, paid)
    assert (message.status, message.attempts, message.last_error) == (
        OutboxStatus.pending,
        1,
        "TelegramNetworkError",
    )
    assert before + timedelta(seconds=2) <= message.next_attempt_at <= utcnow() + timedelta(seconds=2)
    assert (await order(sessions, order_id)).problem is None  # one failure is no verdict

    async with sessions.begin() as s:  # the backoff has passed, for the last time
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(attempts=MAX_ATTEMPTS - 1, next_attempt_at=utcnow())
        )
    await sender.send_due()
    message = await one(sessions, paid)
    assert (message.status, message.attempts) == (OutboxStatus.failed, MAX_ATTEMPTS)
    assert (await order(sessions, order_id)).problem is OrderProblem.delivery_failed
    assert (await order(sessions, order_id)).delivered_at is None
    alerts = await outbox(sessions, "admin.delivery_failed")
    assert sorted(chat for chat, _, _ in alerts) == [ADMIN_ID, SECOND_ADMIN]

    async with sessions.begin() as s:  # a second copy of the delivery fails too: the admins heard already
        s.add(OutboxMessage(kind="paid", chat_id=BUYER.id, order_id=order_id, params={}))
    async with sessions.begin() as s:
        await s.execute(
            update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.pending).values(attempts=MAX_ATTEMPTS - 1)
        )
    await sender.send_due()
    failed = await rows(sessions, select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.failed))
    assert len(failed) == 2 and len(await outbox(sessions, "admin.delivery_failed")) == 2


async def test_a_delivery_is_sent_in_the_buyers_language_and_stamps_the_order_delivered_once(
    tg: Telegram, sessions, settings, goods
) -> None:
    buyer = Person(id=613, language_code="de")
    order_id = await place(tg, sessions, buyer, await seed_product(sessions, units=1, goods=goods))
    await pay(sessions, settings, order_id)
    telegram = RecordingSession()
    sender = OutboxSender(
        OutboxDelivery(sessions, goods, settings),
        Bot(TOKEN, session=telegram),
        NoticeRenderer(Translator(), "en"),
    )
    await sender.send_due()
    first = (await order(sessions, order_id)).delivered_at
    (sent,) = [c.text for c in telegram.calls if isinstance(c, SendMessage) and c.chat_id == buyer.id]
    assert first is not None
    assert sent == de("notify.paid", order_id=order_id) + "\n<code>KEY-Editor Pro 1y-0000</code>"

    async with sessions.begin() as s:  # a resend
        s.add(OutboxMessage(kind="paid", chat_id=buyer.id, order_id=order_id, params={}))
    await sender.send_due()
    assert (await order(sessions, order_id)).delivered_at == first


async def test_buyers_are_warned_once_shortly_before_their_invoice_runs_out(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=3, goods=goods)
    soon, later = Person(id=611), Person(id=612)
    soon_id, later_id = await place(tg, sessions, soon, product), await place(tg, sessions, later, product)
    now = utcnow()
    async with sessions.begin() as s:
        await s.execute(
            update(Order).where(Order.id == soon_id).values(expires_at=now + timedelta(minutes=4, seconds=30))
        )
        await s.execute(update(Order).where(Order.id == later_id).values(expires_at=now + timedelta(minutes=6)))

    async with sessions() as s:
        assert await ExpiryReminders(s).warn_expiring(now) == 1
    async with sessions() as s:
        assert await ExpiryReminders(s).warn_expiring(now + timedelta(seconds=30)) == 0  # once per order
    assert await outbox(sessions, "expiry_warning") == [(soon.id, soon_id, {"minutes": 4})]
    async with sessions.begin() as s:  # what keeps a second process, which read the order meanwhile, silent
        assert await OrderRepo(s).mark_warned(soon_id, now) is False

    async with sessions() as s:  # a minute later the other one is due; the first has run out meanwhile
        assert await ExpiryReminders(s).warn_expiring(now + timedelta(minutes=5)) == 1
    assert await outbox(sessions, "expiry_warning") == [
        (soon.id, soon_id, {"minutes": 4}),
        (later.id, later_id, {"minutes": 1}),
    ]


async def test_a_message_that_cannot_be_made_never_blocks_the_ones_behind_it(
    tg: Telegram, sessions, settings, goods
) -> None:
    """Goods sealed under another GOODS_KEY, and a text with no string: each uses up its attempts and fails
    with one admin alert, while every message queued behind them goes out on the first run."""
    paid = await place(tg, sessions, BUYER, await seed_product(sessions, units=1, goods=goods))
    await pay(sessions, settings, paid)
    async with sessions.begin() as s:
        s.add(OutboxMessage(kind="no_such_text", chat_id=BUYER.id, order_id=paid, params={}))
    other = Person(id=614)
    await place(tg, sessions, other, await seed_product(sessions, category="Home", units=1, goods=goods))
    telegram = RecordingSession()
    sender = OutboxSender(
        OutboxDelivery(sessions, GoodsCipher("another goods key, so nothing opens"), settings),
        Bot(TOKEN, session=telegram),
        NoticeRenderer(Translator(), "en"),
    )
    poison = select(OutboxMessage).where(
        OutboxMessage.chat_id == BUYER.id, OutboxMessage.kind.in_(("paid", "no_such_text"))
    )

    await sender.send_due()
    assert {c.chat_id for c in telegram.calls if isinstance(c, SendMessage)} == {ADMIN_ID, SECOND_ADMIN}
    assert [(m.status, m.attempts) for (m,) in await rows(sessions, poison)] == [(OutboxStatus.pending, 1)] * 2
    for _ in range(MAX_ATTEMPTS - 1):  # each backoff passes
        async with sessions.begin() as s:
            await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        await sender.send_due()
    assert [m.status for (m,) in await rows(sessions, poison)] == [OutboxStatus.failed] * 2
    assert (await order(sessions, paid)).problem is OrderProblem.delivery_failed
    assert len(await outbox(sessions, "admin.delivery_failed")) == 2  # one per admin, once
    (failed,) = {(o, p["what"]) for _, o, p in await outbox(sessions, "admin.notice_failed")}
    assert failed == (paid, "no_such_text")
    assert len(await outbox(sessions, "admin.notice_failed")) == 2
