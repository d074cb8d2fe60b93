"""A refund end to end on anvil, a real Ethereum node: an overpaid ETH order through the real Dispatcher,
Refund, the buyer's own address (an account with a history: a genesis balance, its own sends, an earlier
payment of the same amount), the admin's EIP-681 link paid from another account, confirmed at depth, the
problem closed with that transaction and the buyer told. A wrong amount and a payment to another address
do not close it."""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from handlers.admin.order_views import ApAction, ProblemCb
from models.enums import Chain, OrderProblem, OrderStatus, RefundStatus
from models.orders import Invoice
from processing.chains.evm_rpc import EvmRpcBackend
from tests.admin_flow import ADMIN, audit, one, order, outbox, outbox_sender, place, sent_to
from tests.nodes import Anvil, anvil_fixture, anvil_session_fixture  # noqa: F401
from tests.payflow import Shop
from tests.refund_flow import buyer_asked, dispatcher_of, open_refund, refund_of
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

DEPTH = 3
BUYER = Person(id=821, first_name="Eve", username="eve")
DUE = 4_166_666_666_666_667  # 12.50 USD at 3,000 USD per ETH, in wei, rounded up


@pytest.fixture
async def eth(settings, sessions, goods, anvil: Anvil):
    eth_settings = settings.model_copy(update={"eth_confirmations": DEPTH, "eth_chain_id": 31337})
    backend = EvmRpcBackend(anvil.url, DEPTH, 10)
    yield Shop.build(eth_settings, sessions, goods, Chain.eth, backend)
    await backend.close()


@pytest.mark.nodes
async def test_an_overpaid_order_is_refunded_on_anvil(eth: Shop, sessions, goods, anvil: Anvil) -> None:
    tg: Telegram = dispatcher_of(eth, goods)
    observe = eth.observer.observe
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product, chain=Chain.eth)
    invoice = await one(sessions, select(Invoice.address).where(Invoice.order_id == order_id))
    anvil.send(invoice, 2 * DUE)
    anvil.mine(DEPTH)
    await observe(Chain.eth)
    paid = await order(sessions, order_id)
    assert (paid.status, paid.problem) == (OrderStatus.paid, OrderProblem.overpaid)

    merchant, hers, someone = anvil.accounts[1], anvil.accounts[5], anvil.accounts[6]
    anvil.send(someone, 10**18, sender=hers)  # the buyer's account has a life of its own
    anvil.send(hers, DUE, sender=anvil.accounts[2])  # and was paid this very amount before
    anvil.mine(DEPTH)
    await open_refund(tg, order_id)
    sender = outbox_sender(tg, sessions, eth.settings, goods)
    await buyer_asked(tg, sender, BUYER)
    assert texts(await tg.send(BUYER, hers.lower()))[0].startswith("Thank you.")  # lower case, as exchanges show it
    refund = await refund_of(sessions, order_id)
    assert refund.address is not None and refund.address.lower() == hers.lower() and refund.address != hers.lower()
    assert refund.watch_from == anvil.block_number()

    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["🔗 Payment link and QR"])
    uri = f"ethereum:{refund.address}@31337?value={DUE}"
    assert any(f"<code>{uri}</code>" in t for t in texts(calls))

    anvil.send(hers, DUE - 1, sender=merchant)  # one wei short
    anvil.send(someone, DUE, sender=merchant)  # exactly the amount, to another address
    anvil.send(someone, 10**17, sender=hers)  # the buyer spends meanwhile
    anvil.mine(DEPTH)
    await observe(Chain.eth)
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_payment

    link = urlsplit(uri)  # what the merchant's wallet pays: the link's address and value
    tx = anvil.send(link.path.split("@")[0], int(parse_qs(link.query)["value"][0]), sender=merchant)
    await observe(Chain.eth)  # 1 of 3 confirmations
    assert (await refund_of(sessions, order_id)).status is RefundStatus.awaiting_payment
    anvil.mine(DEPTH - 1)
    for _ in range(2):
        await observe(Chain.eth)
    refund = await refund_of(sessions, order_id)
    assert (refund.status, refund.txid) == (RefundStatus.refunded, tx.lower())
    closed = await order(sessions, order_id)
    assert (closed.problem, closed.close_reason) == (None, f"refunded: {tx.lower()}")
    assert len(await outbox(sessions, "refund_sent")) == 1
    await sender.send_due()
    assert [t for t in sent_to(tg.session.calls, BUYER.id) if "your refund of" in t] == [
        f"✅ Order #{order_id}: your refund of <code>0.004166666666666667</code> ETH has arrived (transaction "
        f"<code>{tx.lower()}</code>)."
    ]
    assert [a.action for a in await audit(sessions, order_id) if a.action.startswith("refund.")] == [
        "refund.open",
        "refund.address",
        "refund.paid",
    ]
