"""Network and asset (issue 16): invoices made before tokens keep their meaning, a token invoice takes its
network's next address, money maths and payment links in a token's own units, and settings that name tokens."""

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import Boolean, Integer, String, column, delete, insert, select, table

from config import Settings
from handlers.orders import invoice_text
from l10n import Translator
from models.chains import CHAINS, TOKENS, Asset
from models.database import alembic_config, create_engine, create_sessionmaker
from models.enums import Chain, OrderStatus
from models.orders import Invoice, Order
from models.shop import User
from models.types import BaseUnits, DecimalText, UtcDateTime, utcnow
from services.dto import InvoiceView, OrderView, PriceSteps
from services.money import amount_due, format_amount, to_fiat
from services.payments.uri import payment_uri

USDT_ETH = Asset(Chain.eth, "USDT", 6, "0xdac17f958d2ee523a2206206994597c13d831ec7")
USDC_SOL = Asset(Chain.sol, "USDC", 6, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")


# The tables as migration 0004 left them: lightweight table clauses, so the ORM's newer columns stay out.
USERS_0004 = table(
    "users",
    column("id", Integer()),
    column("telegram_id", Integer()),
    column("language", String()),
    column("timeout_count", Integer()),
    column("is_banned", Boolean()),
    column("blocked_bot", Boolean()),
    column("created_at", UtcDateTime()),
)
ORDERS_0004 = table(
    "orders",
    column("id", Integer()),
    column("user_id", Integer()),
    column("status", String()),
    column("total_minor", Integer()),
    column("fiat_currency", String()),
    column("created_at", UtcDateTime()),
    column("expires_at", UtcDateTime()),
    column("grace_used", Boolean()),
)
INVOICES_0004 = table(
    "invoices",
    column("order_id", Integer()),
    column("chain", String()),
    column("derivation_index", Integer()),
    column("address", String()),
    column("amount_due", BaseUnits()),
    column("rate", DecimalText()),
    column("rate_source", String()),
    *(column(name, UtcDateTime()) for name in ("rate_at", "expires_at", "created_at")),
)


def test_invoices_made_before_tokens_migrate_to_their_networks_coin(db_url: str, engine) -> None:
    """Migration 0005 on a database with one invoice per chain, written by the 0004 schema (`engine`: an
    empty database on PostgreSQL too, whatever earlier tests left)."""
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0004")

    async def seed() -> None:
        engine = create_engine(db_url)
        now = utcnow()
        async with engine.begin() as conn:
            await conn.execute(delete(ORDERS_0004))
            await conn.execute(delete(USERS_0004))
            await conn.execute(
                insert(USERS_0004).values(
                    id=1,
                    telegram_id=77,
                    language="en",
                    timeout_count=0,
                    is_banned=False,
                    blocked_bot=False,
                    created_at=now,
                )
            )
            for n, chain in enumerate(Chain, start=1):
                await conn.execute(
                    insert(ORDERS_0004).values(
                        id=n,
                        user_id=1,
                        status="awaiting_payment",
                        total_minor=1250,
                        fiat_currency="USD",
                        created_at=now,
                        expires_at=now,
                        grace_used=False,
                    )
                )
                await conn.execute(
                    insert(INVOICES_0004).values(
                        order_id=n,
                        chain=chain.value,
                        derivation_index=n,
                        address=f"addr-{chain}",
                        amount_due=10**n,
                        rate=Decimal(1),
                        rate_source="fixed",
                        rate_at=now,
                        expires_at=now,
                        created_at=now,
                    )
                )
        await engine.dispose()

    async def read() -> dict[Chain, tuple[Asset, int]]:
        engine = create_engine(db_url)
        async with create_sessionmaker(engine)() as s:
            found = {i.chain: (i.unit, i.amount_due) for i in (await s.execute(select(Invoice))).scalars()}
        await engine.dispose()
        return found

    try:
        asyncio.run(seed())
    finally:  # the next tests need the whole schema, whatever happened here
        command.upgrade(cfg, "head")
    assert asyncio.run(read()) == {chain: (CHAINS[chain].native, 10**n) for n, chain in enumerate(Chain, start=1)}


async def test_a_token_invoice_cannot_be_downgraded_away(db_url: str, sessions) -> None:
    """Below 0005 a token invoice's amount would read as the network's coin: the downgrade refuses."""
    async with sessions.begin() as s:
        user = User(telegram_id=78, language="en")
        s.add(user)
        await s.flush()
        order = Order(user_id=user.id, total_minor=1250, fiat_currency="USD", expires_at=utcnow())
        s.add(order)
        await s.flush()
        s.add(
            Invoice(
                order_id=order.id,
                chain=Chain.eth,
                asset="USDT",
                token=USDT_ETH.token,
                decimals=6,
                derivation_index=0,
                address="0xabc",
                amount_due=12_500_000,
                rate=Decimal(1),
                rate_source="fixed",
                rate_at=utcnow(),
                expires_at=utcnow(),
            )
        )
    with pytest.raises(RuntimeError, match="token invoices exist"):
        await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0004")
    async with sessions() as s:
        assert (await s.execute(select(Invoice))).scalar_one().unit == USDT_ETH


def test_token_amounts_are_counted_in_the_tokens_own_units() -> None:
    due = amount_due(USDT_ETH, Decimal("25.00"), Decimal("1.0003"))  # what the sources quote, not 1.00
    assert due == 24_992_503  # 24.9925022… USDT, rounded up to the micro-USDT
    assert format_amount(USDT_ETH, due) == "24.992503"
    assert to_fiat(USDT_ETH, due, Decimal("1.0003")) == Decimal("25.00")
    # a token transfer has no minimum, unlike a first SOL transfer (the rent-exempt minimum)
    assert amount_due(USDC_SOL, Decimal("0.01"), Decimal(1)) == 10_000
    assert amount_due(Chain.sol, Decimal("0.01"), Decimal(150)) == CHAINS[Chain.sol].min_payment


def test_token_payment_links() -> None:
    eth_to = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    assert payment_uri(USDT_ETH, eth_to, 24_992_503, eth_chain_id=1) == (
        f"ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address={eth_to}&uint256=24992503"
    )
    sol_to = "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
    assert payment_uri(USDC_SOL, sol_to, 1_500_000) == (
        f"solana:{sol_to}?amount=1.5&spl-token=EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    )
    with pytest.raises(ValueError, match="not an address"):
        payment_uri(Asset(Chain.sol, "USDC", 6, "EPjF?amount=9"), sol_to, 1)


def test_token_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ETH_TOKENS", "USDT:0xdAC17F958D2ee523a2206206994597C13D831ec7, usdc:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
    )
    monkeypatch.setenv("SOL_TOKENS", "USDC:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
    monkeypatch.setenv("RATES_FIXED", "BTC=60000,usdt=1,USDC=0.9998")
    settings = Settings(_env_file=None)
    assert settings.eth_tokens == {
        "USDT": TOKENS["USDT"].mainnet[Chain.eth][0],
        "USDC": TOKENS["USDC"].mainnet[Chain.eth][0],
    }
    assert settings.sol_tokens == {"USDC": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}
    assert settings.rates_fixed == {"BTC": Decimal(60000), "USDT": Decimal(1), "USDC": Decimal("0.9998")}
    for name, wrong in (
        ("ETH_TOKENS", "DOGE:0xdAC17F958D2ee523a2206206994597C13D831ec7"),  # no rate sources, no known contract
        ("ETH_TOKENS", "USDT:0xdAC17F958D2ee523a2206206994597C13D831ec"),  # 39 hex digits
        (
            "ETH_TOKENS",
            "USDT:0xdAC17F958D2ee523a2206206994597C13D831ec7,USDT:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        ),
        (
            "ETH_TOKENS",
            "USDT:0xdAC17F958D2ee523a2206206994597C13D831ec7,USDC:0xdac17f958d2ee523a2206206994597c13d831ec7",
        ),
        ("SOL_TOKENS", "USDC:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),  # not base58
        ("RATES_FIXED", "DOGE=0.1"),
    ):
        monkeypatch.setenv(name, wrong)
        with pytest.raises(ValidationError, match=name.lower()):
            Settings(_env_file=None)
        monkeypatch.delenv(name)


def test_buyers_see_each_coin_then_each_token_with_its_network(wallet) -> None:
    offered = replace(wallet, tokens=(USDT_ETH, USDC_SOL))
    assert [a.label for a in offered.assets] == ["BTC", "LTC", "ETH", "SOL", "USDT · Ethereum", "USDC · Solana"]
    assert offered.asset(Chain.eth, "USDT") == USDT_ETH and offered.asset(Chain.eth) == CHAINS[Chain.eth].native
    assert offered.asset(Chain.sol, "USDT") is None  # USDT is configured on Ethereum only
    without_sol = replace(offered, sol=None)
    assert [a.label for a in without_sol.assets] == ["BTC", "LTC", "ETH", "USDT · Ethereum"]  # no key, no token


def test_a_token_invoice_names_its_network_and_warns_in_both_languages() -> None:
    now = utcnow()
    invoice = InvoiceView(
        chain=Chain.eth,
        unit=USDT_ETH,
        address="0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
        amount_due=24_992_503,
        rate=Decimal("1.0003"),
        rate_source="fixed",
        rate_at=now,
        expires_at=now,
        uri="ethereum:…",
    )
    total, nothing = Decimal("25.00"), Decimal(0)
    steps = PriceSteps(total, nothing, None, nothing, None, nothing, nothing, nothing, total)
    order = OrderView(
        7, OrderStatus.awaiting_payment, now, Decimal("25.00"), "USD", [], invoice, [], [], None, None, steps
    )
    en, de = (invoice_text(order, invoice, Translator()(language), now) for language in ("en", "de"))
    assert "Send exactly <code>24.992503</code> USDT\nto <code>0x9858EfFD232B4033E47d90003D41EC34EcaEda94</code>" in en
    assert "⚠ Send USDT on <b>Ethereum</b> only (token <code>0xdac17f958d2ee523a2206206994597c13d831ec7</code>)" in en
    assert "Sende genau <code>24.992503</code> USDT" in de and "⚠ Sende USDT nur über <b>Ethereum</b>" in de
    coin = replace(invoice, unit=CHAINS[Chain.eth].native, amount_due=10**16)
    assert "⚠" not in invoice_text(order, coin, Translator()("en"), now)  # a coin has one network
