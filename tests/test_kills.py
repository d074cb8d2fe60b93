"""Crash safety: SIGKILL the real bot process at random moments while it confirms payments, expires
orders and sends deliveries, restart it, and check the invariants over the whole database."""

import asyncio
import os
import random
import shutil
import signal
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from config import ROOT, Settings
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from models.orders import Order
from models.types import utcnow
from tests.conftest import RATES
from tests.doubles.esplora import EsploraDouble
from tests.doubles.telegram import TelegramDouble
from tests.keys import BTC_ZPUB, WALLET_KEY
from tests.payflow import place_order
from tests.process import free_port, wait_healthy
from tests.shop import seed_product

pytestmark = pytest.mark.stress
KILLS = int(os.environ.get("KILLS", "50"))
INVARIANTS = {
    "sold units outside a paid order": """
        SELECT count(*) FROM stock_units su LEFT JOIN orders o ON o.id = su.order_id
        WHERE su.status = 'sold' AND (o.id IS NULL OR o.status NOT IN ('paid', 'shipped'))""",
    "sold units not matching their order's items": """
        SELECT count(*) FROM orders o WHERE o.status IN ('paid', 'shipped') AND
        (SELECT count(*) FROM stock_units su WHERE su.order_id = o.id AND su.status = 'sold')
        != (SELECT sum(quantity) FROM order_items oi WHERE oi.order_id = o.id)""",
    "reservations of closed orders": """
        SELECT count(*) FROM reservations r JOIN orders o ON o.id = r.order_id
        WHERE o.status NOT IN ('awaiting_payment', 'confirming')""",
    "reserved units without a reservation, or the reverse": """
        SELECT (SELECT count(*) FROM stock_units WHERE status = 'reserved')
             - (SELECT count(*) FROM reservations r JOIN stock_units su ON su.id = r.stock_unit_id
                WHERE su.status = 'reserved' AND su.order_id = r.order_id)
             + (SELECT count(*) FROM reservations) - (SELECT count(*) FROM stock_units WHERE status = 'reserved')""",
    "variants whose available-units counter is not their available units": """
        SELECT count(*) FROM product_variants v WHERE v.available_units != (
            SELECT count(*) FROM stock_units su WHERE su.variant_id = v.id AND su.status = 'available')""",
    "payments stored twice": """
        SELECT count(*) FROM (SELECT chain, natural_id FROM payments GROUP BY chain, natural_id
                              HAVING count(*) > 1) d""",
    "orders credited more or less than once": """
        SELECT count(*) FROM orders o WHERE (o.status IN ('paid', 'shipped'))
        != ((SELECT count(*) FROM audit_log a WHERE a.entity = 'order' AND a.entity_id = o.id
             AND a.action = 'order.paid') = 1)""",
    "paid orders not delivered exactly once": """
        SELECT count(*) FROM orders o WHERE o.status IN ('paid', 'shipped') AND (o.delivered_at IS NULL OR
        (SELECT count(*) FROM outbox m WHERE m.order_id = o.id AND m.kind = 'paid') != 1)""",
    "orders both expired and paid": """
        SELECT count(*) FROM orders WHERE status = 'expired' AND (paid_at IS NOT NULL OR EXISTS (
            SELECT 1 FROM audit_log a WHERE a.entity_id = orders.id AND a.action = 'order.paid'))""",
}


async def test_sigkill_at_random_moments_keeps_every_invariant(tmp_path: Path, sqlite_template: Path, goods) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "2026")))
    db = tmp_path / "shop.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    esplora = EsploraDouble()
    await esplora.start()
    shop_settings = Settings(_env_file=None, database_url=url, btc_xpub=BTC_ZPUB, rates_fixed=RATES)
    product = await seed_product(sessions, units=200, goods=goods)
    invoices = [await place_order(shop_settings, sessions, 8000 + n, product, 1 + n % 2, Chain.btc) for n in range(60)]
    rng.shuffle(invoices)
    log = tmp_path / "bot.log"

    async with TelegramDouble() as tg:
        env = {
            **{k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_XPUB", "_KEY"))},
            **tg.env(),
            "DATABASE_URL": url,
            "WALLET_KEY": WALLET_KEY,
            "BTC_XPUB": BTC_ZPUB,
            "BTC_ESPLORA_URL": esplora.url,
            "BTC_CONFIRMATIONS": "1",
            "OBSERVER_INTERVAL_SECONDS": "1",
            "RATES_FIXED": ",".join(f"{c.upper()}={r}" for c, r in RATES.items()),
            "SOL_KEY_FILE": str(tmp_path / "none.key"),
            "LOG_LEVEL": "WARNING",
        }
        for kill in range(KILLS):
            # the world moves on between lives: buyers pay (some short), blocks come, deadlines pass
            for invoice in invoices[kill::KILLS][:2]:
                esplora.pay(invoice.address, invoice.amount_due if rng.random() < 0.8 else invoice.amount_due // 2)
            esplora.mine(1)
            if kill % 3 == 0:
                victim = rng.choice(invoices)
                async with sessions.begin() as s:
                    await s.execute(
                        update(Order)
                        .where(Order.id == victim.order_id)
                        .values(expires_at=utcnow() - timedelta(seconds=1))
                    )
            env["PROCESSING_PORT"] = str(free_port())
            with log.open("ab") as out:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=out, stderr=out
                )
                await asyncio.sleep(rng.uniform(3.0, 8.0))  # during startup, migrations, cycles, sends
                proc.send_signal(signal.SIGKILL)
                await proc.wait()

        for invoice in invoices:  # everyone still unpaid pays now; the last life settles it all
            esplora.pay(invoice.address, invoice.amount_due)
        esplora.mine(1)
        env["PROCESSING_PORT"] = str(free_port())
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=out, stderr=out
            )
            await wait_healthy(int(env["PROCESSING_PORT"]), proc)
            # Until the outbox is drained and no order is open: every invoice is paid in full by now, so each
            # open order gets paid or closed. (Waiting only for open orders with a stored payment stopped before
            # the last life's observer had stored any when few payments came earlier, as with KILLS=3.)
            for _ in range(120):
                async with engine.connect() as conn:
                    busy = (
                        await conn.execute(
                            text(
                                "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending')"
                                " + (SELECT count(*) FROM orders WHERE status IN ('awaiting_payment', 'confirming'))"
                            )
                        )
                    ).scalar()
                if not busy:
                    break
                await asyncio.sleep(1)
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0

    async with engine.connect() as conn:
        broken = {name: (await conn.execute(text(sql))).scalar() for name, sql in INVARIANTS.items()}
        rows = await conn.execute(text("SELECT status, count(*) FROM orders GROUP BY status"))
        statuses: dict[str, int] = {str(status): int(n) for status, n in rows.tuples()}
    await engine.dispose()
    await esplora.stop()
    print(f"\n{KILLS} kills; orders by status: {statuses}")
    assert broken == dict.fromkeys(INVARIANTS, 0)
    assert statuses.get("paid", 0) > 0
