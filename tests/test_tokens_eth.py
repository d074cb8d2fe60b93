"""ERC-20 payments against anvil, a real Ethereum node, with real tokens compiled from tests/contracts: a
Tether-like one (6 decimals, `transfer` returns nothing, optional fee) and a standard one (issue 16)."""

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiohttp.test_utils import TestClient, TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr
from sqlalchemy import func, select, update

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import ROOT, ConfigError, Settings
from handlers.admin.menu import AdminCb, AdminSection
from l10n import Translator
from models.chains import TOKENS, Asset
from models.enums import Chain, Network, OrderProblem, OrderStatus, PaymentStatus, StockStatus
from models.ops import AuditLog
from models.orders import Invoice, Order, Payment
from models.types import utcnow
from processing.chains.erc20 import Erc20Backend
from processing.chains.evm_rpc import EvmRpcBackend
from processing.chains.holdings import TokenHoldings
from processing.chains.tokens import confirm_tokens
from processing.web import HINT_CHECKS, WebDeps, create_web_app
from services.money import format_amount, to_base_units
from services.payments.rates import rate_service_from_settings
from services.payments.seen import TokenWatch
from tests.admin_flow import ADMIN
from tests.conftest import RATES
from tests.erc20 import Token, deploy
from tests.keys import ETH_XPUB
from tests.nodes import Anvil, anvil_fixture, anvil_session_fixture  # noqa: F401
from tests.payflow import Shop
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Telegram, buttons, texts
from tests.test_observer_eth import credited
from tests.test_webhook import PATH, SECRET, hint, signed

DEPTH = 3
BUYER = 451
DUE = 25_000_000  # two units of a 12.50 USD product at 1 USD per token: 25 tokens of 6 decimals


@dataclass
class Tokens:
    usdt: Token  # Tether-like: no return value, optional fee
    usdc: Token  # standard
    assets: tuple[Asset, ...]  # as confirm_tokens read them from the chain


@pytest.fixture
async def tokens(settings: Settings, anvil: Anvil) -> Tokens:
    usdt, usdc = deploy(anvil, "TetherLike"), deploy(anvil, "StandardToken", 6)
    testnet = settings.model_copy(  # on mainnet only the real contracts pass; anvil's are test tokens
        update={
            "network": Network.testnet,
            "eth_rpc_url": SecretStr(anvil.url),
            "eth_tokens": {"USDT": usdt.address, "USDC": usdc.address},
        }
    )
    return Tokens(usdt, usdc, await confirm_tokens(testnet, (Chain.eth,)))


@pytest.fixture
async def shop(settings: Settings, sessions, goods, anvil: Anvil, tokens: Tokens) -> AsyncIterator[Shop]:
    tuned = settings.model_copy(
        update={"eth_confirmations": DEPTH, "rates_fixed": {**RATES, "USDT": Decimal(1), "USDC": Decimal(1)}}
    )
    native, erc20 = EvmRpcBackend(anvil.url, DEPTH, 10), Erc20Backend(anvil.url, DEPTH, 10)
    yield Shop.build(tuned, sessions, goods, Chain.eth, native, erc20, tokens.assets)
    await native.close()
    await erc20.close()


async def overdue(shop: Shop, invoice: Invoice) -> None:
    async with shop.sessions.begin() as s:
        await s.execute(
            update(Order).where(Order.id == invoice.order_id).values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def cycles(shop: Shop, n: int = 1) -> None:
    for _ in range(n):
        await shop.observer.observe(Chain.eth)


async def test_decimals_come_from_the_chain(tokens: Tokens) -> None:
    assert [(a.symbol, a.decimals, a.token) for a in tokens.assets] == [
        ("USDT", 6, tokens.usdt.address),
        ("USDC", 6, tokens.usdc.address),
    ]


async def test_usdt_without_a_return_value_is_credited_once_at_depth_and_delivers(
    shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens
) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    eth = await shop.order(BUYER + 1, product, 1, Chain.eth)
    invoice = await shop.order(BUYER, product, 1, Chain.eth, "USDT")
    assert (invoice.asset, invoice.token, invoice.decimals) == ("USDT", tokens.usdt.address, 6)
    assert invoice.derivation_index == eth.derivation_index + 1  # the network's own counter: never reused
    assert invoice.amount_due == DUE // 2
    await cycles(shop)
    tx = tokens.usdt.transfer(invoice.address, invoice.amount_due)
    (log,) = anvil.receipt(tx)["logs"]
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    anvil.mine(DEPTH - 2)
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    anvil.mine()
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    assert await credited(shop, invoice) == [
        (f"{tx}:{int(log['logIndex'], 16)}", invoice.amount_due, PaymentStatus.confirmed)
    ]
    assert [(m["confirmations"], m["required"]) for m in await shop.outbox("payment_seen")] == [(1, 3), (2, 3)]
    assert any("KEY-Editor Pro 1y-0001" in t for t in await shop.sent_texts(BUYER))  # 0000 is held for the ETH order
    await cycles(shop, 2)  # and again: nothing more
    assert await shop.units(StockStatus.sold) == 1 and await shop.payments() == 1
    assert await shop.one(select(func.count()).where(AuditLog.action == "order.paid")) == 1
    assert await shop.status(eth.order_id) is OrderStatus.awaiting_payment  # the ETH invoice saw no token


async def test_a_standard_token_underpaid_gets_one_grace_then_goes_to_problems(
    shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens
) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.eth, "USDC")
    tokens.usdc.transfer(invoice.address, DUE - 1)
    anvil.mine(DEPTH)
    await overdue(shop, invoice)
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming  # extended once, for the remainder
    assert [m["remainder"] for m in await shop.outbox("underpaid_grace")] == [1]
    texts = await shop.sent_texts(BUYER)
    assert any(f"remaining <code>{format_amount(invoice.unit, 1)}</code> USDC" in t for t in texts)
    await overdue(shop, invoice)
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.underpaid
    assert await shop.one(select(Order.problem).where(Order.id == invoice.order_id)) is OrderProblem.underpaid
    assert await shop.units(StockStatus.available) == 2


async def test_an_overpayment_is_paid_and_flagged(shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.eth, "USDT")
    tokens.usdt.transfer(invoice.address, DUE * 2)
    anvil.mine(DEPTH)
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    assert await shop.one(select(Order.problem).where(Order.id == invoice.order_id)) is OrderProblem.overpaid


async def test_the_wrong_token_and_an_unrelated_contract_pay_nothing(
    shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens
) -> None:
    """USDC sent to a USDT invoice, and a token the shop does not take, are no payment of it: the order
    expires as an unpaid one does. A USDC invoice open at the same time (so the cycle asks for USDC logs too)
    is paid by its own transfer."""
    product = await seed_product(sessions, units=4, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.eth, "USDT")
    other = await shop.order(BUYER + 1, product, 2, Chain.eth, "USDC")
    unrelated = deploy(anvil, "StandardToken", 6)
    tokens.usdc.transfer(invoice.address, DUE)
    unrelated.transfer(invoice.address, DUE)
    tokens.usdc.transfer(other.address, DUE)
    anvil.mine(DEPTH)
    await cycles(shop)
    assert await credited(shop, invoice) == []
    assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment
    assert await shop.status(other.order_id) is OrderStatus.paid
    await overdue(shop, invoice)
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.expired
    assert tokens.usdc.balance(invoice.address) == DUE  # the money is there, at the merchant's own address


async def test_a_fee_on_transfer_credits_what_arrived(
    shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens
) -> None:
    tokens.usdt.set_fee(100)  # 1%, kept by the token's owner
    product = await seed_product(sessions, units=4, goods=goods)
    short = await shop.order(BUYER, product, 2, Chain.eth, "USDT")
    full = await shop.order(BUYER + 1, product, 2, Chain.eth, "USDT")
    tokens.usdt.transfer(short.address, DUE)  # sent the amount due; 99% of it arrived
    tokens.usdt.transfer(full.address, DUE * 100 // 99 + 1)  # sent enough for the fee
    anvil.mine(DEPTH)
    await cycles(shop)
    assert [amount for _, amount, _ in await credited(shop, short)] == [tokens.usdt.balance(short.address)]
    assert tokens.usdt.balance(short.address) == DUE * 99 // 100
    assert await shop.status(short.order_id) is OrderStatus.confirming  # short: seen, never paid
    assert await shop.status(full.order_id) is OrderStatus.paid
    assert [amount for _, amount, _ in await credited(shop, full)] == [tokens.usdt.balance(full.address)]


async def test_a_reorg_before_depth_delivers_nothing(shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.eth, "USDT")
    await cycles(shop)
    anvil.mine_together([tokens.usdt.signed_transfer(invoice.address, DUE)])
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.confirming
    anvil.reorg(1)  # the block with the transfer is replaced by one without it
    await cycles(shop, 3)  # a payment missing three scans in a row counts as reorged
    assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment
    assert [status for *_, status in await credited(shop, invoice)] == [PaymentStatus.reorged]
    anvil.mine(DEPTH + 2)
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment
    assert await shop.units(StockStatus.sold) == 0
    assert not any("KEY-" in t for t in await shop.sent_texts(BUYER))


async def test_a_transfer_a_reorg_moves_to_another_block_counts_once(
    shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens
) -> None:
    """The same transaction mined again one block later: same hash and log index, another block. The stored
    payment follows it (block, confirmations) and the order is paid once, at depth in the new block."""
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.eth, "USDT")
    raw = tokens.usdt.signed_transfer(invoice.address, DUE)
    anvil.mine_together([raw])
    anvil.mine()
    await cycles(shop)
    async with sessions() as s:
        before = (await s.execute(select(Payment))).scalar_one()
    anvil.reorg(2, [(raw, 1)])  # now in the second of the two replaced blocks
    await cycles(shop)
    async with sessions() as s:
        after = (await s.execute(select(Payment))).scalar_one()
    assert after.natural_id == before.natural_id and after.block_height == before.block_height + 1
    assert (after.block_hash != before.block_hash, after.confirmations) == (True, 1)
    anvil.mine(DEPTH - 1)
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    assert await shop.payments() == 1


async def test_a_restart_finds_payments_made_meanwhile_in_pieces_a_provider_accepts(
    shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens
) -> None:
    """A fresh backend (a restart) remembers nothing: it searches back to the invoice's creation. 2,500 blocks
    later that takes two eth_getLogs pieces, none longer than 2,000 blocks."""
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(BUYER, product, 2, Chain.eth, "USDT")
    tokens.usdt.transfer(invoice.address, DUE)
    anvil.mine(2500)
    restarted = Erc20Backend(anvil.url, DEPTH, 10)
    calls: list[dict[str, Any]] = []
    send = restarted._rpc._post

    async def recorded(path, body, where):
        calls.extend(c for c in (body if isinstance(body, list) else [body]) if c["method"] == "eth_getLogs")
        return await send(path, body, where)

    restarted._rpc._post = recorded  # type: ignore[method-assign]
    shop.observer.tokens = {Chain.eth: restarted}
    await cycles(shop)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    spans = [
        int(c["params"][0]["toBlock"], 16) - int(c["params"][0]["fromBlock"], 16) + 1
        for c in calls
        if c["params"][0]["toBlock"] != "latest"
    ]
    assert spans and max(spans) <= 2000
    await restarted.close()


def on(settings: Settings, anvil: Anvil, network: Network, **tokens: str) -> Settings:
    return settings.model_copy(
        update={"network": network, "eth_rpc_url": SecretStr(anvil.url), "eth_tokens": dict(tokens)}
    )


async def test_only_the_known_contracts_with_their_decimals_pass_on_mainnet(settings: Settings, anvil: Anvil) -> None:
    usdt_mainnet, usdc_mainnet = (TOKENS[s].mainnet[Chain.eth][0] for s in ("USDT", "USDC"))
    code = anvil.rpc("eth_getCode", deploy(anvil, "TetherLike").address, "latest")
    anvil.rpc("anvil_setCode", usdt_mainnet, code)  # Tether's contract as far as decimals() goes
    assert await confirm_tokens(on(settings, anvil, Network.mainnet, USDT=usdt_mainnet), (Chain.eth,)) == (
        Asset(Chain.eth, "USDT", 6, usdt_mainnet),
    )
    eighteen = deploy(anvil, "StandardToken", 18)
    anvil.rpc("anvil_setCode", usdc_mainnet, anvil.rpc("eth_getCode", eighteen.address, "latest"))
    for tokens, why in (
        ({"USDC": usdc_mainnet}, f"ETH_TOKENS: USDC ({usdc_mainnet}) reports 18 decimals, not 6"),
        ({"USDT": eighteen.address}, f"ETH_TOKENS: USDT on Ethereum mainnet is {usdt_mainnet}, not {eighteen.address}"),
    ):
        with pytest.raises(ConfigError, match=re.escape(why)):
            await confirm_tokens(on(settings, anvil, Network.mainnet, **tokens), (Chain.eth,))
    # on a test network any token passes, with the decimals it reports
    testnet = on(settings, anvil, Network.testnet, USDC=eighteen.address)
    assert [a.decimals for a in await confirm_tokens(testnet, (Chain.eth,))] == [18]


async def test_an_address_without_a_token_stops_the_bot(settings: Settings, anvil: Anvil) -> None:
    person = anvil.accounts[5].lower()
    with pytest.raises(ConfigError, match=f"ETH_TOKENS: {person} is not a contract"):
        await confirm_tokens(on(settings, anvil, Network.testnet, USDT=person), (Chain.eth,))
    vault = deploy(anvil, "TetherLike")  # a contract, but one without decimals(): fake one by giving it none
    anvil.rpc("anvil_setCode", vault.address, "0x60006000fd")  # PUSH 0 PUSH 0 REVERT
    with pytest.raises(ConfigError, match=f"ETH_TOKENS: {vault.address} does not answer decimals()"):
        await confirm_tokens(on(settings, anvil, Network.testnet, USDT=vault.address), (Chain.eth,))
    with pytest.raises(ConfigError, match="ETH_TOKENS: tokens are paid to ETH addresses; set ETH_XPUB too"):
        await confirm_tokens(on(settings, anvil, Network.testnet, USDT=vault.address), (Chain.btc,))


async def test_python_m_bot_exits_2_naming_eth_tokens(tmp_path, anvil: Anvil) -> None:
    """The README's command, with a token setting that names no contract: exit status 2 and a line that says
    which setting, before the bot talks to Telegram (nothing listens at its API URL here)."""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "BOT_TOKEN": "123456789:AAbbccddeeffgghhiijjkkllmmnnooppqq",
            "TELEGRAM_API_URL": "http://127.0.0.1:9",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shop.db",
            "NETWORK": "testnet",
            "ETH_XPUB": ETH_XPUB,
            "ETH_RPC_URL": anvil.url,
            "ETH_TOKENS": f"USDT:{anvil.accounts[5]}",
            "SOL_KEY_FILE": str(tmp_path / "no-sol.key"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    *_, line = result.stderr.strip().splitlines()  # after the migration's log lines
    assert line.startswith("error: ETH_TOKENS:") and "is not a contract" in line
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr


async def test_observer_check_now_and_webhook_race_on_erc20_invoices_without_double_credit(
    shop: Shop, sessions, goods, anvil: Anvil, tokens: Tokens
) -> None:
    """Exactly once against a real node, on SQLite and PostgreSQL: cycles, buyers' check-now and signed webhook
    hints share one Erc20Backend and race on the same token invoices while blocks keep coming. None of them
    may find the chain "unknown" because another moved an anchor under it."""
    hooked = shop.settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    shop.observer.settings = hooked
    orders = 6
    product = await seed_product(sessions, units=orders, goods=goods)
    invoices = [await shop.order(900 + n, product, 1, Chain.eth, "USDT" if n % 2 else "USDC") for n in range(orders)]
    for invoice in invoices:
        (tokens.usdt if invoice.asset == "USDT" else tokens.usdc).transfer(invoice.address, invoice.amount_due)
    anvil.mine(DEPTH)
    deps = WebDeps(
        sessions=sessions, scheduler=AsyncIOScheduler(timezone="UTC"), observer=shop.observer, settings=hooked
    )
    async with TestClient(TestServer(create_web_app(deps))) as client:

        async def hinted(address: str) -> int:
            body = hint(address.lower(), chain="eth")  # providers send addresses in lowercase
            return (await client.post(PATH, data=body, headers=signed(body))).status

        checks = [shop.observer.check_address(Chain.eth, invoices[n % orders].address) for n in range(60)]
        hints = [hinted(invoices[n % orders].address) for n in range(60)]
        cycles = [shop.observer.observe(Chain.eth) for _ in range(4)]
        blocks = [asyncio.to_thread(anvil.mine) for _ in range(8)]  # the chain moves on meanwhile: anchors too
        results = await asyncio.gather(*checks, *hints, *cycles, *blocks)
        await client.app[HINT_CHECKS].wait()
    assert all(r is True for r in results[:60]) and all(r == 202 for r in results[60:120])
    async with sessions() as s:
        paid = (await s.execute(select(func.count()).where(Order.status == OrderStatus.paid))).scalar_one()
        credits = (await s.execute(select(func.count()).where(AuditLog.action == "order.paid"))).scalar_one()
    assert (paid, credits, await shop.payments(), await shop.units(StockStatus.sold)) == (orders,) * 4


async def test_an_overlapping_scan_that_moves_the_anchor_leaves_the_other_scan_its_answer(
    anvil: Anvil, tokens: Tokens
) -> None:
    """A cycle and a check-now overlap on one backend: the later one moves the address's anchor up while the
    earlier one's answer is on its way. The earlier one checks the anchor it asked about, so it still answers
    for the address instead of calling it unknown (a buyer would read "could not be asked")."""
    backend = Erc20Backend(anvil.url, DEPTH, 10)
    address = anvil.accounts[7]
    tokens.usdt.transfer(address, 1_000)
    watch = TokenWatch(address, tokens.usdt.address, utcnow() - timedelta(minutes=5))
    await backend.scan([watch])
    anvil.mine(DEPTH)
    await backend.scan([watch])  # the next anchor is now above the current one
    gate, held = asyncio.Event(), list[bool]()
    send = backend._rpc.batch

    async def slow_first(calls, **kwargs):
        answer = await send(calls, **kwargs)
        if not held:
            held.append(True)
            await gate.wait()
        return answer

    backend._rpc.batch = slow_first  # type: ignore[method-assign]
    earlier = asyncio.create_task(backend.scan([watch]))
    while not held:
        await asyncio.sleep(0.01)
    later = await backend.scan([watch])  # moves the anchor
    gate.set()
    for snapshot in (later, await earlier):
        assert [p.amount for p in snapshot.payments[address]] == [1_000]
    await backend.close()


async def test_the_wallet_screen_and_wallet_export_show_the_tokens_to_sweep(
    shop: Shop, sessions, goods, wallet, anvil: Anvil, tokens: Tokens, db_url: str
) -> None:
    """Issue 16, item 5: per network, which invoice addresses hold tokens now, how much, and the gas to move
    them at the current gas price; after the merchant sweeps an address it is no longer listed."""
    product = await seed_product(sessions, units=4, goods=goods)
    paid = [await shop.order(BUYER + n, product, 2, Chain.eth, "USDT") for n in range(2)]
    for invoice in paid:
        tokens.usdt.transfer(invoice.address, DUE)
    anvil.mine(DEPTH)
    await cycles(shop)
    erc20 = shop.observer.tokens[Chain.eth]
    admin_shop = Container(
        settings=shop.settings,
        sessions=sessions,
        translator=Translator(),
        wallet=replace(wallet, tokens=tokens.assets),
        rates=rate_service_from_settings(shop.settings),
        goods=goods,
        observer=shop.observer,
        holdings=TokenHoldings({Chain.eth: erc20}),
    )
    recording = RecordingSession()
    tg = Telegram(create_dispatcher(admin_shop, MemoryStorage()), create_bot(shop.settings, recording), recording)

    async def sweep_view() -> list[str]:
        calls = await tg.press(ADMIN, AdminCb(section=AdminSection.wallet))
        return texts(await tg.press(ADMIN, buttons(calls)["🧹 Tokens to sweep"]))[0].split("\n\n")

    prices = {int(anvil.rpc("eth_gasPrice"), 16)}
    view = await sweep_view()
    prices.add(int(anvil.rpc("eth_gasPrice"), 16))  # the node's price when the view asked it: one of these
    *held, fee = view[1].splitlines()
    assert held == [
        "<b>USDT · Ethereum</b>: 2 addresses hold <code>50</code>",
        *(f"• #{i.derivation_index} <code>{i.address}</code>: 25 USDT" for i in paid),
    ]
    found = re.fullmatch(r"Moving them costs about (\S+) ETH at today's prices \((\S+) ETH per transfer\)\.", fee)
    assert found is not None, fee
    total, each = (to_base_units(Chain.eth, Decimal(amount)) for amount in found.groups())
    assert total == 2 * each and each in {(21_000 + 65_000) * price for price in prices}  # funding + transfer gas
    anvil.rpc("anvil_impersonateAccount", paid[0].address)  # the merchant sweeps the first address
    anvil.send(paid[0].address, 10**16)
    tokens.usdt.transfer(anvil.accounts[1], DUE, sender=paid[0].address)
    view = await sweep_view()
    assert view[1].splitlines()[:2] == [
        "<b>USDT · Ethereum</b>: 1 addresses hold <code>25</code>",
        f"• #{paid[1].derivation_index} <code>{paid[1].address}</code>: 25 USDT",
    ]
    exported = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "wallet", "export"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": db_url,
            "ETH_XPUB": ETH_XPUB,
            "ETH_RPC_URL": anvil.url,
            "SOL_KEY_FILE": "/nonexistent/sol.key",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    start = lines.index("Tokens on invoice addresses (your own keys, at the index shown; see README, 'Stablecoins'):")
    assert lines[start + 1] == f"  USDT · Ethereum  index {paid[1].derivation_index}  {paid[1].address}  25 USDT"
    assert lines[start + 2].startswith("  moving them: about ")


async def test_an_invoice_made_after_the_anchor_costs_no_search_back(anvil: Anvil, tokens: Tokens) -> None:
    """The usual case of a running shop: a new token invoice, made after the newest anchor's block, is read
    from that block on in the cycle's one request; only a restart (or an older invoice) searches back."""
    backend = Erc20Backend(anvil.url, DEPTH, 10)
    posts = list[int]()
    send = backend._rpc._post

    async def counted(path, body, where):
        posts.append(len(body) if isinstance(body, list) else 1)
        return await send(path, body, where)

    backend._rpc._post = counted  # type: ignore[method-assign]
    first, later = anvil.accounts[7], anvil.accounts[8]
    watching = TokenWatch(first, tokens.usdt.address, utcnow() - timedelta(minutes=5))
    await backend.scan([watching])
    searched = len(posts)
    assert searched > 1  # the tip, block timestamps, the search back, the cycle
    anvil.mine(DEPTH)
    await backend.scan([watching])  # the anchor moves up to a block at depth
    anchor = max((h.anchor for h in backend._histories.values()), key=lambda a: a.height)
    made = datetime.fromtimestamp(anchor.timestamp, UTC) + timedelta(minutes=2)
    tokens.usdt.transfer(later, 777)
    before = len(posts)
    snapshot = await backend.scan([watching, TokenWatch(later, tokens.usdt.address, made)])
    assert len(posts) - before == 1  # one request for both
    assert [p.amount for p in snapshot.payments[later]] == [777]
    await backend.close()


def test_rolling_anvil_back_after_a_test_keeps_its_clock_at_wall_clock_time(anvil: Anvil) -> None:
    """tests.nodes: evm_revert sets anvil's clock back to the snapshot's block. Left so, each test would hand the
    next a chain lagging the wall clock by its run time; a minute of tests on, payments would land in blocks
    "older" than their invoices, which the ERC-20 backend's search back to an invoice's creation rightly skips."""
    snapshot = anvil.snapshot()
    time.sleep(3)  # a test's run time
    anvil.revert(snapshot)
    anvil.mine()
    assert time.time() - int(anvil.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) < 2
