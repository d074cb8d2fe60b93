"""The observer against anvil, a real Ethereum node: pay, confirm at depth, reorg, and the buyer's
"check now" button through the real Dispatcher."""

from datetime import timedelta

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from pydantic import ValidationError
from sqlalchemy import select, update

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import BlockTag, Settings
from handlers.callbacks import OrderAction, OrderCb
from l10n import Translator
from models.enums import Chain, OrderProblem, OrderStatus, PaymentStatus, StockStatus
from models.orders import Invoice, Order, Payment
from models.types import utcnow
from processing.chains.evm_rpc import EvmRpcBackend
from processing.observer import Observer
from services.payments.rates import rate_service_from_settings
from tests.doubles.evm_history import NodeWithoutHistory
from tests.nodes import Anvil, anvil_fixture, anvil_session_fixture  # noqa: F401
from tests.payflow import Shop
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, texts

DEPTH = 3
BUYER = 401


@pytest.fixture
async def eth(settings, sessions, goods, anvil: Anvil):
    eth_settings = settings.model_copy(update={"eth_confirmations": DEPTH})
    backend = EvmRpcBackend(anvil.url, DEPTH, 10)
    yield Shop.build(eth_settings, sessions, goods, Chain.eth, backend)
    await backend.close()


async def test_eth_payment_confirms_at_depth_and_delivers(eth: Shop, sessions, goods, anvil: Anvil) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await eth.order(BUYER, product, 2, Chain.eth)
    await eth.observer.observe(Chain.eth)
    anvil.send(invoice.address, invoice.amount_due)  # mined in its own block: 1 confirmation
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.confirming
    anvil.mine(DEPTH - 2)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.confirming
    anvil.mine(1)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.paid
    assert [(m["confirmations"], m["required"]) for m in await eth.outbox("payment_seen")] == [(1, 3), (2, 3)]
    assert await eth.units(StockStatus.sold) == 2
    texts_ = await eth.sent_texts(BUYER)
    assert any("KEY-Editor Pro 1y-0001" in t for t in texts_)


async def test_eth_reorg_before_depth_uncredits(eth: Shop, sessions, goods, anvil: Anvil) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await eth.order(BUYER, product, 1, Chain.eth)
    anvil.send(invoice.address, invoice.amount_due)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.confirming
    anvil.reorg(1)  # the block with the payment is replaced by one without it
    for _ in range(3):
        await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.awaiting_payment
    async with sessions() as s:
        assert (await s.execute(select(Payment.status))).scalar_one() is PaymentStatus.reorged
    assert await eth.units(StockStatus.reserved) == 1
    anvil.mine(DEPTH + 2)  # nothing comes back by itself
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.awaiting_payment


async def test_check_now_button_confirms_without_waiting_for_the_cycle(
    eth: Shop, container: Container, sessions, goods, anvil: Anvil
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await eth.order(BUYER, product, 1, Chain.eth)
    live = Container(
        settings=eth.settings,
        sessions=sessions,
        translator=Translator(),
        wallet=container.wallet,
        rates=rate_service_from_settings(eth.settings),
        goods=goods,
        observer=Observer(sessions, eth.settings, eth.observer.backends),
    )
    recording = RecordingSession()
    tg = Telegram(
        dp=create_dispatcher(live, MemoryStorage()), bot=create_bot(eth.settings, recording), session=recording
    )
    buyer = Person(id=BUYER)
    calls = await tg.press(buyer, OrderCb(action=OrderAction.check, id=invoice.order_id))
    assert "No payment seen yet. It can take a minute to show up." in texts(calls)
    anvil.send(invoice.address, invoice.amount_due)
    anvil.mine(DEPTH - 1)
    calls = await tg.press(buyer, OrderCb(action=OrderAction.check, id=invoice.order_id))
    assert await eth.status(invoice.order_id) is OrderStatus.paid
    assert any("· paid" in t for t in texts(calls))


async def credited(shop: Shop, invoice: Invoice) -> list[tuple[str, int, PaymentStatus]]:
    """(natural id, amount, status) of every payment stored for the invoice."""
    async with shop.sessions() as s:
        rows = await s.execute(
            select(Payment.natural_id, Payment.amount, Payment.status)
            .where(Payment.invoice_id == invoice.id)
            .order_by(Payment.id)
        )
        return [tuple(row) for row in rows.tuples()]  # type: ignore[misc]


def counted(payments: list[tuple[str, int, PaymentStatus]]) -> int:
    return sum(amount for _, amount, status in payments if status is not PaymentStatus.reorged)


async def test_a_reorg_that_splits_a_block_never_credits_more_than_arrived(
    eth: Shop, sessions, goods, anvil: Anvil
) -> None:
    """Issue 13, item 4: two payments to one invoice land in one block (one balance increase); a reorg
    moves the second to the next block. Nothing may count twice: 90% arrived, so the order stays unpaid."""
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await eth.order(BUYER, product, 1, Chain.eth)
    first, second = invoice.amount_due * 6 // 10, invoice.amount_due * 3 // 10
    raw = anvil.signed([(invoice.address, first), (invoice.address, second)])
    anvil.mine_together(raw)
    anvil.mine()
    await eth.observer.observe(Chain.eth)
    assert counted(await credited(eth, invoice)) == first + second
    anvil.reorg(2, [(raw[0], 0), (raw[1], 1)])
    for _ in range(3):  # until a payment missing from the chain would count as reorged
        await eth.observer.observe(Chain.eth)
        assert counted(await credited(eth, invoice)) == anvil.balance(invoice.address) == first + second
    anvil.mine(DEPTH)
    await eth.observer.observe(Chain.eth)
    assert counted(await credited(eth, invoice)) == first + second
    assert await eth.status(invoice.order_id) is OrderStatus.confirming  # short: never paid
    assert await eth.units(StockStatus.sold) == 0


async def test_a_reorg_that_merges_two_blocks_neither_loses_nor_doubles_a_payment(
    eth: Shop, sessions, goods, anvil: Anvil
) -> None:
    """Issue 13, item 4, the other way round: two halves in two blocks end up in one block."""
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await eth.order(BUYER, product, 1, Chain.eth)
    half = invoice.amount_due // 2
    raw = anvil.signed([(invoice.address, half), (invoice.address, invoice.amount_due - half)])
    anvil.mine_together(raw[:1])
    anvil.mine_together(raw[1:])
    await eth.observer.observe(Chain.eth)
    assert counted(await credited(eth, invoice)) == invoice.amount_due
    anvil.reorg(2, [(raw[0], 0), (raw[1], 0)])
    for _ in range(3):
        await eth.observer.observe(Chain.eth)
        assert counted(await credited(eth, invoice)) == anvil.balance(invoice.address) == invoice.amount_due
    anvil.mine(DEPTH)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.paid
    assert await eth.one(select(Order.problem).where(Order.id == invoice.order_id)) is None  # not overpaid
    assert [amount for _, amount, _ in await credited(eth, invoice)] == [half, invoice.amount_due - half]


async def test_a_payment_netted_against_a_sweep_is_credited_in_full_once_a_reorg_parts_them(
    eth: Shop, sessions, goods, anvil: Anvil
) -> None:
    """Issue 13, item 4: in a block where the invoice address itself sends (the merchant sweeps), a payment
    is netted against the send, so its credit is less than it paid. A reorg that moves the sweep to the
    next block changes that credit's amount under the same id; the stored amount must follow."""
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await eth.order(BUYER, product, 1, Chain.eth)
    half = invoice.amount_due // 2
    first, second = anvil.signed([(invoice.address, half), (invoice.address, invoice.amount_due - half)])
    anvil.mine_together([first])
    anvil.rpc("anvil_impersonateAccount", invoice.address)
    sweep = {"from": invoice.address, "to": anvil.accounts[1], "value": hex(half // 10)}
    anvil.mine_together([second, sweep])
    anvil.mine()
    await eth.observer.observe(Chain.eth)
    assert counted(await credited(eth, invoice)) < invoice.amount_due - half // 10  # netted, less its fee
    anvil.reorg(2, [(second, 0), (sweep, 1)])
    await eth.observer.observe(Chain.eth)
    assert counted(await credited(eth, invoice)) == invoice.amount_due
    anvil.mine(DEPTH)
    await eth.observer.observe(Chain.eth)
    assert await eth.status(invoice.order_id) is OrderStatus.paid


@pytest.mark.parametrize(("tag", "behind"), [("safe", 32), ("finalized", 64)])  # anvil: tip − 32, tip − 64
async def test_eth_confirmations_by_block_tag(
    settings, sessions, goods, anvil: Anvil, tag: BlockTag, behind: int
) -> None:
    """Issue 13, item 7: ETH_CONFIRMATIONS=safe|finalized pays an order once its payment's block is at or
    below the node's safe (finalized) block, however many blocks that is from the tip."""
    tagged = settings.model_copy(update={"eth_confirmations": tag})
    backend = EvmRpcBackend(anvil.url, tag, 10)
    shop = Shop.build(tagged, sessions, goods, Chain.eth, backend)
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.eth)
    anvil.mine(behind)
    anvil.send(invoice.address, invoice.amount_due)
    anvil.mine(behind - 1)  # 'behind' confirmations: still above the tagged block
    await shop.observer.observe(Chain.eth)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    assert [(m["confirmations"], m["required"]) for m in await shop.outbox("payment_seen")] == [(0, 1)]
    anvil.mine()
    await shop.observer.observe(Chain.eth)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    await backend.close()


def test_eth_confirmations_setting_takes_a_count_or_a_block_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, parsed, depth in (("12", 12, 12), ("1", 1, 1), ("safe", "safe", 1), ("finalized", "finalized", 1)):
        monkeypatch.setenv("ETH_CONFIRMATIONS", value)
        settings = Settings(_env_file=None)
        assert (settings.eth_confirmations, settings.confirmations(Chain.eth)) == (parsed, depth)
    for wrong in ("0", "-3", "latest", "pending", "Safe", "1.5", ""):
        monkeypatch.setenv("ETH_CONFIRMATIONS", wrong)
        with pytest.raises(ValidationError, match="eth_confirmations"):
            Settings(_env_file=None)


async def test_a_node_without_history_leaves_old_invoices_unknown_and_scans_the_rest(
    eth: Shop, settings, sessions, goods, anvil: Anvil
) -> None:
    """Issue 13, item 7: on a node that keeps recent state only, an invoice whose payment is older costs
    its own answer, not the whole scan's. Its stored payments are never missed, its order never judged;
    the other invoices are credited as usual."""
    product = await seed_product(sessions, units=3, goods=goods)
    paid = await eth.order(BUYER, product, 1, Chain.eth)
    anvil.send(paid.address, paid.amount_due)
    anvil.mine(DEPTH)
    await eth.observer.observe(Chain.eth)  # through the full node: paid and stored
    assert await eth.status(paid.order_id) is OrderStatus.paid
    waiting = await eth.order(BUYER + 1, product, 1, Chain.eth)
    anvil.send(waiting.address, waiting.amount_due)  # paid while the shop was not looking
    anvil.mine(5)
    async with sessions.begin() as s:  # and its time is up
        await s.execute(
            update(Order).where(Order.id == waiting.order_id).values(expires_at=utcnow() - timedelta(minutes=1))
        )

    node = NodeWithoutHistory(anvil.url)  # the shop restarts onto a node without those old states
    for old in (paid, waiting):
        node.forget(old.address, below=anvil.block_number())
    backend = EvmRpcBackend(await node.start(), DEPTH, 10)
    shop = Shop.build(eth.settings, sessions, goods, Chain.eth, backend)
    fresh = await shop.order(BUYER + 2, product, 1, Chain.eth)
    anvil.send(fresh.address, fresh.amount_due)
    for _ in range(3):
        await shop.observer.observe(Chain.eth)
    admins = sorted(settings.admin_ids)
    assert await shop.status(fresh.order_id) is OrderStatus.confirming
    assert (await credited(shop, paid))[0][1:] == (paid.amount_due, PaymentStatus.confirmed)
    async with sessions() as s:
        assert (await s.execute(select(Payment.missing_count).where(Payment.invoice_id == paid.id))).scalar_one() == 0
    assert await shop.status(paid.order_id) is OrderStatus.paid
    assert await shop.one(select(Order.problem).where(Order.id == paid.order_id)) is not OrderProblem.reorged
    assert await shop.status(waiting.order_id) is OrderStatus.awaiting_payment  # not expired: unknown
    assert await shop.units(StockStatus.reserved) == 2  # its unit stays held, as does the fresh order's
    assert await credited(shop, waiting) == []
    # Admins hear of it once over the three scans, in the text that says what to do
    alerts = await shop.outbox("admin.unseen_overdue")
    assert [(a["chat_id"], a["order_id"]) for a in alerts] == [(admin, waiting.order_id) for admin in admins]
    alert = Translator()("en")("notify.admin.unseen_overdue", order_id=waiting.order_id, coin="ETH")
    assert [alert] * len(admins) == [t for admin in admins for t in await shop.sent_texts(admin) if t.startswith("⏳")]
    assert await shop.observer.check_address(Chain.eth, waiting.address) is None
    assert shop.observer.health[Chain.eth].failures == 0
    assert node.refused > 0
    anvil.mine(DEPTH)
    await shop.observer.observe(Chain.eth)
    assert await shop.status(fresh.order_id) is OrderStatus.paid
    await backend.close()
    await node.stop()
