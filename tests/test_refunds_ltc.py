"""A refund end to end on a real Litecoin Core node (regtest, core-rpc): an overpaid order through the real
Dispatcher, Refund, the buyer's address (imported into the shop's watch-only wallet), the admin's link paid
from another regtest wallet for exactly the excess, confirmed at depth, the problem closed with that txid
and the buyer told. An older payment of the same amount, a wrong amount and a payment to another address
do not close it."""

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from aiogram.methods import SendPhoto
from sqlalchemy import select

from handlers.admin.order_views import ApAction, ProblemCb
from models.enums import Chain, OrderProblem, OrderStatus, RefundStatus
from models.orders import Invoice
from tests import test_observer_ltc
from tests.admin_flow import ADMIN, audit, order, outbox, outbox_sender, place, sent_to
from tests.nodes import Litecoind, litecoind_fixture  # noqa: F401
from tests.payflow import Shop
from tests.refund_flow import buyer_asked, dispatcher_of, ltc_address, open_refund, refund_of
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_observer_ltc import coins

BUYER = Person(id=811, first_name="Lou", username="lou")
DUE = 15_625_000  # 12.50 USD at 80 USD per LTC
ltc_shop = test_observer_ltc.shop  # that module's shop fixture: regtest LTC watched by litecoind, here by this name


@pytest.fixture
def tg(ltc_shop: Shop, goods) -> Telegram:
    """The real Dispatcher of test_observer_ltc's shop, its observer watching litecoind."""
    return dispatcher_of(ltc_shop, goods)


async def test_an_overpaid_order_is_refunded_on_litecoind(
    ltc_shop: Shop, tg: Telegram, sessions, goods, litecoind: Litecoind
) -> None:
    observe = ltc_shop.observer.observe
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product, chain=Chain.ltc)
    async with sessions() as s:
        invoice = (await s.execute(select(Invoice).where(Invoice.order_id == order_id))).scalar_one()
    assert invoice.amount_due == DUE
    litecoind.send(invoice.address, coins(2 * DUE))
    litecoind.mine(2)
    await observe(Chain.ltc)
    paid = await order(sessions, order_id)
    assert (paid.status, paid.problem) == (OrderStatus.paid, OrderProblem.overpaid)

    hers = litecoind.address("merchant")  # the buyer's wallet
    litecoind.send(hers, coins(DUE))  # the same amount, long before the refund
    litecoind.mine(2)
    await open_refund(tg, order_id)
    sender = outbox_sender(tg, sessions, ltc_shop.settings, goods)
    await buyer_asked(tg, sender, BUYER)
    assert texts(await tg.send(BUYER, ltc_address())) == [  # a mainnet address
        "That is a mainnet address, but the shop runs on regtest. Please send a LTC address for regtest."
    ]
    assert texts(await tg.send(BUYER, invoice.address)) == [
        "That is one of the shop's own payment addresses. Please send an address of your own wallet."
    ]
    assert texts(await tg.send(BUYER, hers))[0].startswith("Thank you.")
    wallet = ltc_shop.observer.backends[Chain.ltc]._wallet  # type: ignore[attr-defined]  # the fixture's shop-…
    assert litecoind.rpc("getaddressinfo", hers, wallet=wallet)["iswatchonly"] is True
    refund = await refund_of(sessions, order_id)
    assert refund.watch_from == litecoind.rpc("getblockcount")

    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["🔗 Payment link and QR"])
    (photo,) = [c for c in calls if isinstance(c, SendPhoto)]
    uri = f"litecoin:{hers}?amount=0.15625"
    assert f"<code>{uri}</code>" in (photo.caption or "")

    litecoind.send(hers, coins(DUE - 1_000))  # not exactly the amount
    litecoind.send(litecoind.address("funder"), coins(DUE))  # exactly the amount, to another address
    litecoind.mine(2)
    await observe(Chain.ltc)
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_payment

    link = urlsplit(uri)  # what the admin's wallet pays: the link's address and amount
    txid = litecoind.send(link.path, Decimal(parse_qs(link.query)["amount"][0]))
    await observe(Chain.ltc)  # in the mempool
    litecoind.mine(1)
    await observe(Chain.ltc)  # 1 of 2 confirmations
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_payment
    litecoind.mine(1)
    for _ in range(2):
        await observe(Chain.ltc)
    refund = await refund_of(sessions, order_id)
    assert refund.status is RefundStatus.refunded and refund.txid is not None and refund.txid.startswith(f"{txid}:")
    closed = await order(sessions, order_id)
    assert (closed.problem, closed.close_reason) == (None, f"refunded: {refund.txid}")
    assert len(await outbox(sessions, "refund_sent")) == 1
    await sender.send_due()
    told = [t for t in sent_to(tg.session.calls, BUYER.id) if "your refund of" in t]
    assert told == [
        f"✅ Order #{order_id}: your refund of <code>0.15625</code> LTC has arrived (transaction "
        f"<code>{refund.txid}</code>)."
    ]
    assert [a.action for a in await audit(sessions, order_id) if a.action.startswith("refund.")] == [
        "refund.open",
        "refund.address",
        "refund.paid",
    ]
