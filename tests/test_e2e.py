"""The whole product over HTTP: `python -m bot` as the README runs it, polling an HTTP Bot API double,
watching litecoind (core-rpc) and anvil. Buyers walk from /start to delivered goods in LTC and ETH,
an admin ships a physical order with tracking, and one order expires."""

import asyncio
import json
import random
import re
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config import ROOT
from tests.doubles.telegram import FakeUser, TelegramDouble, buttons, find_button
from tests.erc20 import deploy
from tests.keys import ETH_XPUB, LTC_TTUB, WALLET_KEY
from tests.nodes import Anvil, Litecoind, anvil_fixture, anvil_session_fixture, litecoind_fixture  # noqa: F401
from tests.process import bot_process

pytestmark = pytest.mark.nodes
ADMIN = 900_000_009
PARCEL_ADDRESS = "Paula Post\nGartenweg 12\n04109 Leipzig"
WAIT = 60


def catalog(path: Path) -> Path:
    data = {
        "categories": [
            {
                "name": "Software",
                "subcategories": [
                    {
                        "name": "Licences",
                        "products": [
                            {
                                "name": "Editor Pro 1y",
                                "description": "One-year licence key",
                                "price": "12.50",
                                "kind": "digital",
                                "stock": [f"KEY-E2E-{n:04d}" for n in range(5)],
                            },
                            {
                                "name": "Sticker pack",
                                "description": "Shipped by post",
                                "price": "4.00",
                                "kind": "physical",
                                "quantity": 5,
                            },
                        ],
                    }
                ],
            }
        ]
    }
    path.write_text(json.dumps(data))
    return path


def import_catalog(tmp_path: Path, env: dict[str, str]) -> None:
    """The catalog above, through `python -m bot catalog import` as the README does it."""
    imported = subprocess.run(
        [sys.executable, "-m", "bot", "catalog", "import", str(catalog(tmp_path / "c.json"))],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr


LABELS = {
    "en": ("🛍 Shop", "🛒 Add 1 to cart", "🛒 Cart", "💳 Checkout"),
    "de": ("🛍 Shop", "🛒 1 in den Warenkorb", "🛒 Warenkorb", "💳 Zur Kasse"),
}


class Buyer:
    def __init__(self, tg: TelegramDouble, user: FakeUser) -> None:
        self.tg, self.user = tg, user
        self.seen = 0

    async def next(self) -> dict[str, Any]:
        return await self.tg.next_sent(self.user.id, timeout=WAIT)

    async def press(self, message: dict[str, Any], text: str) -> dict[str, Any]:
        await self.tg.user_presses(self.user, message, find_button(message, text=text))
        return await self.next()

    async def wait_text(self, needle: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.tg.sent_to(self.user.id) if needle in (m.get("text") or "")), None)

        return await self.tg.wait_for(found, timeout=WAIT)

    async def checkout(self, product: str, chain: str, address: str | None = None) -> tuple[str, Decimal]:
        """/start → shop → product → add → cart → checkout → (where to ship it) → chain; returns the invoice
        address and amount."""
        shop, add, to_cart, checkout = LABELS[self.user.language_code or "en"]
        await self.tg.user_sends_text(self.user, "/start")
        await self.next()
        menu = await self.next()
        page = await self.press(menu, shop)
        page = await self.press(page, "Software")
        page = await self.press(page, "Licences")
        listed = next(b["text"] for b in buttons(page) if b["text"].startswith(f"{product} · "))  # price, stock
        card = await self.press(page, listed)
        card = await self.press(card, add)
        cart = await self.press(card, to_cart)
        chains = await self.press(cart, checkout)
        if address is not None:
            assert "Where should we send it?" in chains["text"], chains
            await self.tg.user_sends_text(self.user, address)
            chains = await self.next()
        invoice = await self.press(chains, chain)
        assert invoice.get("photo"), invoice
        caption = invoice["caption"]
        amount, address = re.search(r"(?:Send exactly|Sende genau) (\S+) \w+\n(?:to|an) (\S+)", caption).groups()  # type: ignore[union-attr]
        return address, Decimal(amount)


async def test_buyers_pay_in_ltc_and_eth_and_get_their_goods(
    tmp_path: Path, litecoind: Litecoind, anvil: Anvil
) -> None:
    db = tmp_path / "shop.db"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "WALLET_KEY": WALLET_KEY,
        "NETWORK": "regtest",
        "LTC_XPUB": LTC_TTUB,
        "LTC_BACKEND": "core-rpc",
        "LTC_CONFIRMATIONS": "2",
        "LTC_RPC_URL": f"{litecoind.url}/wallet/e2e-{uuid.uuid4().hex[:8]}",
        "ETH_XPUB": ETH_XPUB,
        "ETH_RPC_URL": anvil.url,
        "ETH_CONFIRMATIONS": "2",
        "ETH_CHAIN_ID": "31337",
        "RATES_FIXED": "BTC=60000,LTC=80,ETH=3000,SOL=150",
        "OBSERVER_INTERVAL_SECONDS": "1",
        "ADMIN_IDS": str(ADMIN),
        "SOL_KEY_FILE": str(tmp_path / "no-sol.key"),
    }
    import_catalog(tmp_path, env)
    with sqlite3.connect(db) as conn:  # a wallet that has been used before: start past earlier tests' addresses
        conn.executemany(
            "INSERT INTO derivation_counters (chain, next_index) VALUES (?, ?)",
            [("ltc", random.randrange(1000, 10**6)), ("eth", random.randrange(1000, 10**6))],
        )

    async with TelegramDouble() as tg:
        async with bot_process({**tg.env(), **env}, tmp_path / "bot.log"):
            ltc_buyer = Buyer(tg, FakeUser(id=1001, first_name="Lena", language_code="en"))
            address, amount = await ltc_buyer.checkout("Editor Pro 1y", "LTC")
            assert address.startswith("rltc1")
            litecoind.send(address, amount)
            await ltc_buyer.wait_text("payment seen, 0/2 confirmations")
            litecoind.mine(2)
            paid = await ltc_buyer.wait_text("is paid")
            assert "KEY-E2E-0000" in paid["text"]

            eth_buyer = Buyer(tg, FakeUser(id=1002, first_name="Ethan", language_code="de"))
            address, amount = await eth_buyer.checkout("Editor Pro 1y", "ETH")
            anvil.send(address, int(amount * 10**18))
            anvil.mine(1)
            paid = await eth_buyer.wait_text("ist bezahlt")
            assert "KEY-E2E-0001" in paid["text"]

            parcel = Buyer(tg, FakeUser(id=1004, first_name="Paula"))
            address, amount = await parcel.checkout("Sticker pack", "LTC", PARCEL_ADDRESS)
            litecoind.send(address, amount)
            litecoind.mine(2)
            paid = await parcel.wait_text("will be shipped soon")
            order_id = re.search(r"Order #(\d+)", paid["text"]).group(1)  # type: ignore[union-attr]
            admin = Buyer(tg, FakeUser(id=ADMIN, first_name="Ada"))
            await tg.user_sends_text(admin.user, f"/order {order_id}")
            detail = await admin.wait_text(f"Order #{order_id} · ")  # admins also got order notifications
            assert PARCEL_ADDRESS in detail["text"]
            await tg.user_presses(admin.user, detail, find_button(detail, text="🚚 Mark shipped"))
            await admin.wait_text("send the tracking details")
            await tg.user_sends_text(admin.user, "DHL 00340434161234567890")
            await admin.wait_text(f"Order #{order_id} is marked shipped")
            await parcel.wait_text("Tracking: DHL 00340434161234567890")

            late = Buyer(tg, FakeUser(id=1003, first_name="Otto"))
            await late.checkout("Sticker pack", "ETH", "Otto\nAm Ring 2\n50667 Köln")
            with sqlite3.connect(db) as conn:  # the buyer walked away; let the clock run out
                conn.execute("UPDATE orders SET expires_at = '2000-01-01 00:00:00' WHERE status = 'awaiting_payment'")
            await late.wait_text("expired unpaid")
            await asyncio.sleep(0)
        log = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    for secret in (WALLET_KEY, "KEY-E2E-0000", litecoind.password, tg.token, PARCEL_ADDRESS, "Am Ring 2"):
        assert secret not in log
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("shop.db*"))  # the database, its WAL and SHM
    # goods, the mnemonic, the wallet key, the shipping addresses
    for plaintext in (b"KEY-E2E-", b"abandon", WALLET_KEY.encode(), b"Am Ring 2", b"Gartenweg 12"):
        assert plaintext not in stored and plaintext.decode() not in log
    with sqlite3.connect(db) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall())
        sold = conn.execute("SELECT count(*) FROM stock_units WHERE status = 'sold'").fetchone()[0]
    assert statuses == {"paid": 2, "shipped": 1, "expired": 1} and sold == 3


async def test_a_buyer_pays_in_usdt_on_ethereum_end_to_end(tmp_path: Path, anvil: Anvil) -> None:
    """Issue 16 through `python -m bot`: ETH_TOKENS names a Tether-like contract on anvil, the bot reads its
    decimals at startup, the buyer picks "USDT · Ethereum", pays the exact amount with the token and gets the
    goods."""
    usdt = deploy(anvil, "TetherLike")
    db = tmp_path / "shop.db"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "WALLET_KEY": WALLET_KEY,
        "NETWORK": "regtest",
        "ETH_XPUB": ETH_XPUB,
        "ETH_RPC_URL": anvil.url,
        "ETH_CONFIRMATIONS": "2",
        "ETH_CHAIN_ID": "31337",
        "ETH_TOKENS": f"USDT:{usdt.address}",
        "RATES_FIXED": "ETH=3000,USDT=1.0003",
        "OBSERVER_INTERVAL_SECONDS": "1",
        "SOL_KEY_FILE": str(tmp_path / "no-sol.key"),
    }
    import_catalog(tmp_path, env)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO derivation_counters (chain, next_index) VALUES ('eth', ?)", (random.randrange(1000, 10**6),)
        )
    async with TelegramDouble() as tg:
        async with bot_process({**tg.env(), **env}, tmp_path / "bot.log"):
            buyer = Buyer(tg, FakeUser(id=1101, first_name="Tess", language_code="en"))
            address, amount = await buyer.checkout("Editor Pro 1y", "USDT · Ethereum")
            assert amount == Decimal("12.496252")  # 12.50 USD at 1.0003 USD per USDT, rounded up
            usdt.transfer(address, int(amount * 10**6))
            anvil.mine(1)
            paid = await buyer.wait_text("is paid")
            assert "KEY-E2E-0000" in paid["text"]
        log = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT asset, token, decimals, amount_due FROM invoices").fetchall()
    assert [(*row[:3], int(row[3])) for row in rows] == [("USDT", usdt.address, 6, 12_496_252)]  # wei-sized: text
