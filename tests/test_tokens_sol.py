"""SPL token payments (issue 16) through the Solana double, which speaks the real wire format of token
transfers (pre/postTokenBalances, uiTokenAmount, owner, mint): a buyer picking "USDC · Solana" on the real
Dispatcher, the backend on its own, the startup check of SOL_TOKENS, and the observer, the check-now
button and the webhook racing on token invoices without crediting anything twice, on both databases."""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendPhoto
from aiohttp.test_utils import TestClient, TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import ConfigError, Settings
from handlers.callbacks import OrderAction, OrderCb
from l10n import Translator
from models.chains import TOKENS, Asset
from models.enums import Chain, Network, OrderStatus, PaymentStatus, StockStatus
from models.ops import AuditLog, OutboxMessage
from models.orders import Invoice, Order, Payment
from models.types import utcnow
from processing.chains.holdings import TokenHoldings
from processing.chains.solana_rpc import SolanaRpcBackend
from processing.chains.spl_token import SplTokenBackend
from processing.chains.tokens import confirm_tokens
from processing.observer import Observer
from processing.web import HINT_CHECKS, WebDeps, create_web_app
from services.admin.wallet import AdminWalletService, TokenHolding
from services.payments.rates import rate_service_from_settings
from services.payments.seen import SeenPayment, TokenWatch
from services.payments.uri import qr_png
from services.wallet.merchant import load_wallet
from services.wallet.spl import associated_token_account
from tests.conftest import RATES
from tests.doubles.solana import LAMPORTS_PER_SOL, SolanaDouble, new_pubkey
from tests.payflow import Shop
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_shop import buy_two
from tests.test_webhook import PATH, SECRET, hint, signed

USDC_RATE = Decimal("0.9998")  # what the sources say, never an assumed 1.00
DUE = 25_005_002  # 25.00 USD at 0.9998 USD per USDC, rounded up to the micro-USDC
BUYER_SWEEP = 761


@pytest.fixture
async def solana() -> AsyncIterator[SolanaDouble]:
    double = SolanaDouble()
    await double.start()
    yield double
    await double.stop()


@dataclass
class Sol:
    double: SolanaDouble
    usdc: str  # the mint the shop takes
    other: str  # another mint, which it does not
    settings: Settings
    tokens: tuple[Asset, ...]
    payer: str  # holds SOL and both tokens

    def pay(self, to: str, amount: int, mint: str | None = None) -> str:
        return self.double.token_transfer(self.payer, to, mint or self.usdc, amount)


@pytest.fixture
async def sol(settings: Settings, solana: SolanaDouble) -> Sol:
    usdc, other = solana.new_mint(6), solana.new_mint(6)
    payer = solana.new_account(10 * LAMPORTS_PER_SOL)
    for mint in (usdc, other):
        solana.mint_to(payer, mint, 10**12)
    solana.finalize()
    tuned = settings.model_copy(
        update={
            "sol_rpc_url": SecretStr(solana.url),
            "sol_tokens": {"USDC": usdc},
            "rates_fixed": {**RATES, "USDC": USDC_RATE},
            "webhook_secret": SecretStr(SECRET),
        }
    )
    tokens = await confirm_tokens(tuned.model_copy(update={"network": Network.testnet}), (Chain.sol,))
    return Sol(solana, usdc, other, tuned, tokens, payer)


def observer(sol: Sol, sessions) -> Observer:
    return Observer(
        sessions,
        sol.settings,
        {Chain.sol: SolanaRpcBackend(sol.double.url, "finalized", 10)},
        {Chain.sol: SplTokenBackend(sol.double.url, "finalized", 10)},
    )


async def close(watcher: Observer) -> None:
    for backend in watcher.backends.values():
        await backend.close()
    for token_backend in watcher.tokens.values():
        await token_backend.close()


async def test_a_buyer_picks_usdc_on_solana_pays_and_checks_now(sol: Sol, sessions, wallet, goods) -> None:
    watcher = observer(sol, sessions)
    shop = Container(
        settings=sol.settings,
        sessions=sessions,
        translator=Translator(),
        wallet=replace(wallet, tokens=sol.tokens),
        rates=rate_service_from_settings(sol.settings),
        goods=goods,
        observer=watcher,
    )
    recording = RecordingSession()
    tg = Telegram(
        dp=create_dispatcher(shop, MemoryStorage()), bot=create_bot(sol.settings, recording), session=recording
    )
    product = await seed_product(sessions, units=2, goods=goods)
    buyer = Person(id=701)
    calls = await buy_two(tg, buyer, product)
    assert list(buttons(calls)) == ["BTC", "LTC", "ETH", "SOL", "USDC · Solana", "⬅ Back"]
    calls = await tg.press(buyer, buttons(calls)["USDC · Solana"])
    async with sessions() as s:
        invoice = (await s.execute(select(Invoice))).scalar_one()
    assert (invoice.chain, invoice.asset, invoice.token, invoice.decimals) == (Chain.sol, "USDC", sol.usdc, 6)
    assert (invoice.amount_due, invoice.rate) == (DUE, USDC_RATE)
    photo = next(c for c in calls if isinstance(c, SendPhoto))
    caption = photo.caption or ""
    assert f"Send exactly <code>25.005002</code> USDC\nto <code>{invoice.address}</code>" in caption
    assert f"⚠ Send USDC on <b>Solana</b> only (token <code>{sol.usdc}</code>)" in caption
    assert "per USDC" in caption
    assert photo.photo.data == qr_png(f"solana:{invoice.address}?amount=25.005002&spl-token={sol.usdc}")  # type: ignore[union-attr]

    sol.pay(invoice.address, 25_000_000, sol.other)  # another mint to the same owner: no payment
    signature = sol.pay(invoice.address, DUE)
    calls = await tg.press(buyer, OrderCb(action=OrderAction.check, id=invoice.order_id))
    assert "No payment seen yet. It can take a minute to show up." in texts(calls)  # confirmed, not finalized
    sol.double.finalize()
    calls = await tg.press(buyer, OrderCb(action=OrderAction.check, id=invoice.order_id))
    assert any("· paid" in t for t in texts(calls))
    async with sessions() as s:
        stored = (await s.execute(select(Payment.natural_id, Payment.amount, Payment.status))).all()
    ata = associated_token_account(invoice.address, sol.usdc)
    assert [tuple(p) for p in stored] == [(f"{signature}:{ata}", DUE, PaymentStatus.confirmed)]
    await close(watcher)


async def test_the_backend_reads_token_balances_of_the_invoice_mint_and_owner_only(sol: Sol) -> None:
    backend = SplTokenBackend(sol.double.url, "confirmed", 10)
    shop, stranger = new_pubkey(), new_pubkey()
    watch = TokenWatch(shop, sol.usdc, since=utcnow())
    assert (await backend.scan([watch])).payments == {shop: []}
    first = sol.pay(shop, 1_500_000)  # creates the ATA: no pre entry, the whole amount is the credit
    # One transaction, three transfers: another mint to the same owner and USDC to someone else are not ours.
    second = sol.double.token_transfers(
        sol.payer, [(shop, sol.other, 9_000_000), (stranger, sol.usdc, 7_000_000), (shop, sol.usdc, 500_000)]
    )
    ata = associated_token_account(shop, sol.usdc)
    slot = sol.double.slot
    seen = (await backend.scan([watch])).payments
    assert seen.keys() == {shop}
    assert sorted(seen[shop], key=lambda p: p.block_height or 0) == [
        SeenPayment(f"{first}:{ata}", shop, 1_500_000, 1, slot - 1, None),
        SeenPayment(f"{second}:{ata}", shop, 500_000, 1, slot, None),  # into the existing ATA: post − pre
    ]
    assert sol.double.token_balance(shop, sol.usdc) == 2_000_000
    sol.double.drop(second)  # a fork that never finalizes: the payment is gone
    assert [p.amount for p in (await backend.scan([watch])).payments[shop]] == [1_500_000]
    await backend.close()


async def test_sol_tokens_must_be_mints_of_the_token_program_with_the_known_decimals(
    settings: Settings, solana: SolanaDouble
) -> None:
    real_usdc = TOKENS["USDC"].mainnet[Chain.sol][0]

    def configured(network: Network, mint: str) -> Settings:
        return settings.model_copy(
            update={"network": network, "sol_rpc_url": SecretStr(solana.url), "sol_tokens": {"USDC": mint}}
        )

    solana.mints[real_usdc] = 6
    assert await confirm_tokens(configured(Network.mainnet, real_usdc), (Chain.sol,)) == (
        Asset(Chain.sol, "USDC", 6, real_usdc),
    )
    solana.mints[real_usdc] = 9
    with pytest.raises(ConfigError, match=f"SOL_TOKENS: USDC \\({real_usdc}\\) reports 9 decimals, not 6"):
        await confirm_tokens(configured(Network.mainnet, real_usdc), (Chain.sol,))
    look_alike = solana.new_mint(6)
    with pytest.raises(ConfigError, match=f"USDC on Solana mainnet is {real_usdc}, not {look_alike}"):
        await confirm_tokens(configured(Network.mainnet, look_alike), (Chain.sol,))
    wallet_account = solana.new_account(LAMPORTS_PER_SOL)
    for mint, why in ((wallet_account, "is not a mint of the Token program"), (new_pubkey(), "is no account")):
        with pytest.raises(ConfigError, match=f"SOL_TOKENS: {re.escape(mint)} {why}"):
            await confirm_tokens(configured(Network.testnet, mint), (Chain.sol,))
    with pytest.raises(ConfigError, match="SOL_TOKENS: tokens are paid to SOL addresses; set SOL_KEY_FILE too"):
        await confirm_tokens(configured(Network.testnet, look_alike), (Chain.eth,))


async def test_observer_check_now_and_webhook_race_on_token_invoices_without_double_credit(
    sol: Sol, sessions, goods
) -> None:
    """Issue 16: exactly once for token invoices, on SQLite and PostgreSQL. Cycles, the buyers' check-now
    (Observer.check_address, the button's path) and signed webhook hints (through the web app) all at once."""
    shop = Shop.build(
        sol.settings,
        sessions,
        goods,
        Chain.sol,
        SolanaRpcBackend(sol.double.url, "finalized", 10),
        SplTokenBackend(sol.double.url, "finalized", 10),
        sol.tokens,
    )
    watcher = shop.observer
    orders = 12
    product = await seed_product(sessions, units=orders, goods=goods)
    invoices = [await shop.order(800 + n, product, 1, Chain.sol, "USDC") for n in range(orders)]
    for invoice in invoices:
        sol.pay(invoice.address, invoice.amount_due)
    sol.double.finalize()
    deps = WebDeps(
        sessions=sessions, scheduler=AsyncIOScheduler(timezone="UTC"), observer=watcher, settings=sol.settings
    )
    async with TestClient(TestServer(create_web_app(deps))) as client:

        async def hinted(address: str) -> int:
            body = hint(address, chain="sol")
            return (await client.post(PATH, data=body, headers=signed(body))).status

        checks = [watcher.check_address(Chain.sol, invoices[n % orders].address) for n in range(120)]
        hints = [hinted(invoices[n % orders].address) for n in range(120)]
        cycles = [watcher.observe(Chain.sol) for _ in range(6)]
        results = await asyncio.gather(*checks, *hints, *cycles)
        await client.app[HINT_CHECKS].wait()
    assert all(r is True for r in results[:120]) and all(r == 202 for r in results[120:240])
    async with sessions() as s:
        paid = (await s.execute(select(func.count()).where(Order.status == OrderStatus.paid))).scalar_one()
        credits = (await s.execute(select(func.count()).where(AuditLog.action == "order.paid"))).scalar_one()
        deliveries = (await s.execute(select(func.count()).where(OutboxMessage.kind == "paid"))).scalar_one()
    assert (paid, credits, deliveries, await shop.payments()) == (orders, orders, orders, orders)
    assert await shop.units(StockStatus.sold) == orders
    await close(watcher)


async def test_the_sweeping_view_reads_the_associated_token_accounts(sol: Sol, sessions, goods) -> None:
    spl = SplTokenBackend(sol.double.url, "finalized", 10)
    shop = Shop.build(
        sol.settings, sessions, goods, Chain.sol, SolanaRpcBackend(sol.double.url, "finalized", 10), spl, sol.tokens
    )
    product = await seed_product(sessions, units=2, goods=goods)
    invoice = await shop.order(BUYER_SWEEP, product, 2, Chain.sol, "USDC")
    sol.pay(invoice.address, DUE)
    sol.double.finalize()
    await shop.observer.observe(Chain.sol)
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    async with sessions() as s:
        service = AdminWalletService(s, load_wallet(sol.settings), TokenHoldings({Chain.sol: spl}))
        (report,) = await service.sweep_reports()
        assert report.holdings == [TokenHolding(invoice.unit, invoice.derivation_index, invoice.address, DUE)]
        assert (report.fee_per_address, report.coin.symbol) == (10_000, "SOL")  # two signatures
        sol.double.rpc_error = (-32005, "Node is behind by 42 slots")
        (down,) = await service.sweep_reports()
        assert down.holdings is None  # "could not ask", never "holds nothing"
    await spl.close()
