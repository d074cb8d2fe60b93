"""Statistics and the wallet section through the real Dispatcher: period figures, the revenue chart as a
real PNG, the CSV reconciliation, gap-limit warnings, provider health and the watch-only export."""

import csv
import io
import struct
import sys
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.stats import StatsAction, StatsCb
from models.enums import Chain, OrderStatus, PaymentStatus
from models.orders import Invoice, Order, OrderItem, Payment
from models.shop import User
from models.types import utcnow
from processing.observer import ProviderHealth
from services.admin.stats import Period
from tests.conftest import ADMIN_ID
from tests.telegram import Person, Telegram, buttons, texts
from tests.test_webhook import StaticChain

ADMIN = Person(id=ADMIN_ID, first_name="Ada", username="ada")
ETH = 10**18


async def seed_sales(sessions) -> dict[str, int]:
    """Six orders: paid today (with a reorged payment), shipped 3 days ago (overpaid ETH), expired today,
    paid 10 days ago, underpaid today, and cancelled today before any invoice."""
    now = utcnow()
    async with sessions.begin() as s:
        buyer = User(telegram_id=4711, username="buyer", language="en")
        s.add(buyer)
        await s.flush()
        specs = [  # name, status, created, paid, total, (chain, index, due, [(amount, status)]), items
            (
                "paid",
                OrderStatus.paid,
                now,
                now,
                2500,
                (Chain.btc, 0, 41_667, [(41_667, PaymentStatus.confirmed), (1_000, PaymentStatus.reorged)]),
                [("Editor Pro 1y", 2, 1250)],
            ),
            (
                "shipped",
                OrderStatus.shipped,
                now - timedelta(days=3),
                now - timedelta(days=3),
                400,
                (Chain.eth, 0, ETH + 5, [(2 * ETH, PaymentStatus.confirmed)]),
                [("Sticker pack", 1, 400)],
            ),
            (
                "expired",
                OrderStatus.expired,
                now,
                None,
                1250,
                (Chain.ltc, 0, 31_250_000, []),
                [("Editor Pro 1y", 1, 1250)],
            ),
            (
                "old",
                OrderStatus.paid,
                now - timedelta(days=10),
                now - timedelta(days=10),
                1250,
                (Chain.ltc, 1, 31_250_000, [(31_250_000, PaymentStatus.confirmed)]),
                [("Editor Pro 1y", 1, 1250)],
            ),
            (
                "short",
                OrderStatus.underpaid,
                now,
                None,
                3000,
                (Chain.btc, 1, 50_000, [(20_000, PaymentStatus.confirmed)]),
                [("Editor Pro 1y", 1, 3000)],
            ),
            ("cancelled", OrderStatus.cancelled, now, None, 1250, None, [("Editor Pro 1y", 1, 1250)]),
        ]
        ids = {}
        for name, status, created, paid, total, invoice, items in specs:
            order = Order(
                user_id=buyer.id,
                status=status,
                total_minor=total,
                fiat_currency="USD",
                created_at=created,
                paid_at=paid,
                expires_at=created + timedelta(minutes=30),
            )
            s.add(order)
            await s.flush()
            ids[name] = order.id
            s.add_all(OrderItem(order_id=order.id, product_name=p, quantity=q, unit_price_minor=u) for p, q, u in items)
            if invoice is None:
                continue
            chain, index, due, payments = invoice
            inv = Invoice(
                order_id=order.id,
                chain=chain,
                derivation_index=index,
                address=f"addr-{name}",
                amount_due=due,
                rate=Decimal(1),
                rate_source="test",
                rate_at=created,
                expires_at=created + timedelta(minutes=30),
                created_at=created,
            )
            s.add(inv)
            await s.flush()
            s.add_all(
                Payment(chain=chain, natural_id=f"{name}:{n}", invoice_id=inv.id, amount=amount, status=st)
                for n, (amount, st) in enumerate(payments)
            )
        return ids


async def test_overview_per_period_with_coins_conversion_and_top_products(tg: Telegram, sessions) -> None:
    await seed_sales(sessions)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.stats))
    assert texts(calls)[0].split("\n\n") == [
        "📊 <b>Statistics</b> (days in UTC)",
        "<b>Today</b>: 4 orders, 1 paid\nRevenue: 25.00 USD\nReceived: 0.00041667 BTC\n"
        "Conversion: 33.3% (1 of 3 invoices paid)",
        "<b>7 days</b>: 5 orders, 2 paid\nRevenue: 29.00 USD\nReceived: 0.00041667 BTC, 2 ETH\n"
        "Conversion: 50.0% (2 of 4 invoices paid)",
        "<b>30 days</b>: 6 orders, 3 paid\nRevenue: 41.50 USD\nReceived: 0.00041667 BTC, 0.3125 LTC, 2 ETH\n"
        "Conversion: 60.0% (3 of 5 invoices paid)",
        "<b>Top products, 30 days</b>\n1. Editor Pro 1y: 3 sold, 37.50 USD\n2. Sticker pack: 1 sold, 4.00 USD",
    ]
    assert list(buttons(calls)) == [
        "📈 Revenue chart, 30 days",
        "📄 CSV Today",
        "📄 CSV 7 days",
        "📄 CSV 30 days",
        "📒 Store credit ledger (CSV)",
        "⬅ Back",
    ]


async def test_an_empty_shop_has_no_conversion_and_no_top_products(tg: Telegram) -> None:
    text = texts(await tg.press(ADMIN, AdminCb(section=AdminSection.stats)))[0]
    assert "<b>Today</b>: 0 orders, 0 paid\nRevenue: 0\nReceived: —\nConversion: — (0 of 0 invoices paid)" in text
    assert text.endswith("No sales yet.")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from IHDR, after checking every chunk's CRC and inflating the image data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, dict[bytes, list[bytes]]()
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks.setdefault(kind, []).append(body)
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    channels = {2: 3, 6: 4}[colour]
    assert depth == 8 and b"IEND" in chunks
    assert len(zlib.decompress(b"".join(chunks[b"IDAT"]))) == height * (1 + width * channels)
    return width, height


async def test_revenue_chart_is_a_valid_png_photo(tg: Telegram, sessions) -> None:
    await seed_sales(sessions)
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.chart))
    (photo,) = [c for c in calls if isinstance(c, SendPhoto)]
    assert photo.chat_id == ADMIN_ID and (photo.caption or "").startswith("Revenue per day over the last 30 days")
    assert isinstance(photo.photo, BufferedInputFile) and photo.photo.filename == "revenue-30d.png"
    assert png_size(photo.photo.data) == (900, 450)


async def test_the_chart_leaves_no_matplotlib_in_the_bot(tg: Telegram, sessions) -> None:
    """matplotlib and numpy (about 48 MiB resident once imported) draw in a child process."""
    await seed_sales(sessions)
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.chart))
    assert [c for c in calls if isinstance(c, SendPhoto)]
    assert "matplotlib" not in sys.modules


async def test_reconciliation_csv_has_one_row_per_order(tg: Telegram, sessions) -> None:
    ids = await seed_sales(sessions)
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.export, period=Period.month))
    (document,) = [c for c in calls if isinstance(c, SendDocument)]
    assert document.caption == "Reconciliation, 30 days: 6 orders."
    assert isinstance(document.document, BufferedInputFile)
    assert document.document.filename == f"orders-30d-{datetime.now(UTC).date().isoformat()}.csv"
    rows = list(csv.DictReader(io.StringIO(document.document.data.decode())))
    by_id = {int(r["order_id"]): r for r in rows}
    assert list(by_id) == sorted(ids.values())
    pick = ("status", "chain", "address", "due", "received", "difference", "fiat_total", "fiat_currency")
    assert {name: tuple(by_id[i][k] for k in pick) for name, i in ids.items()} == {
        "paid": ("paid", "btc", "addr-paid", "0.00041667", "0.00041667", "0", "25.00", "USD"),
        "shipped": (
            "shipped",
            "eth",
            "addr-shipped",
            "1.000000000000000005",
            "2",
            "0.999999999999999995",
            "4.00",
            "USD",
        ),
        "expired": ("expired", "ltc", "addr-expired", "0.3125", "0", "-0.3125", "12.50", "USD"),
        "old": ("paid", "ltc", "addr-old", "0.3125", "0.3125", "0", "12.50", "USD"),
        "short": ("underpaid", "btc", "addr-short", "0.0005", "0.0002", "-0.0003", "30.00", "USD"),
        "cancelled": ("cancelled", "", "", "", "", "", "12.50", "USD"),
    }
    assert datetime.fromisoformat(by_id[ids["paid"]]["created_at"]).tzinfo is not None
    today = await tg.press(ADMIN, StatsCb(action=StatsAction.export, period=Period.today))
    assert next(c for c in today if isinstance(c, SendDocument)).caption == "Reconciliation, Today: 4 orders."


async def test_wallet_gap_warning_health_and_watch_only_export(tg: Telegram, sessions, container) -> None:
    ids = await seed_sales(sessions)
    async with sessions.begin() as s:  # BTC index 20, nothing received: 2..20 unused after the paid 0 and 1
        s.add(
            Invoice(
                order_id=ids["cancelled"],
                chain=Chain.btc,
                derivation_index=20,
                address="addr-20",
                amount_due=1,
                rate=Decimal(1),
                rate_source="t",
                rate_at=utcnow(),
                expires_at=utcnow(),
            )
        )
    container.observer.backends = {chain: StaticChain(chain) for chain in (Chain.btc, Chain.ltc)}  # watched ones
    container.observer.health[Chain.btc] = ProviderHealth(last_ok=utcnow(), last_cycle_seconds=0.4)
    container.observer.health[Chain.ltc] = ProviderHealth(failures=3)
    text = texts(await tg.press(ADMIN, AdminCb(section=AdminSection.wallet)))[0]
    parts = text.split("\n\n")
    assert parts[:3] == [
        "👛 <b>Wallet</b>",
        "<b>BTC</b>: last index used 20, last paid 1, longest unused run 19\n⚠ 19 unused addresses in a row, "
        "more than 15: a wallet may stop looking before later payments.",
        "<b>LTC</b>: last index used 1, last paid 1, longest unused run 1",
    ]
    assert parts[4] == "<b>SOL</b>: last index used —, last paid —, longest unused run 0"
    assert parts[5].startswith("Raise your wallet's gap limit above the longest run. Sparrow: Settings → Gap limit.")
    assert "<code>wallet.change_gap_limit(N)</code>" in parts[5]
    assert parts[6].splitlines() == [
        "<b>Providers</b>",
        "BTC: ok, last scan 0 s ago (took 0.4 s)",
        "LTC: ⚠ 3 failures in a row, last success never",
        "ETH: no scan yet",
        "SOL: no scan yet",
    ]
    # One rule for "failing" (as on /healthz): two failures after a success are not yet a failing provider.
    container.observer.health[Chain.ltc] = ProviderHealth(last_ok=utcnow(), failures=2, last_cycle_seconds=1.5)
    text = texts(await tg.press(ADMIN, AdminCb(section=AdminSection.wallet)))[0]
    assert "LTC: ok, last scan 0 s ago (took 1.5 s)" in text.split("\n\n")[6].splitlines()
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.wallet))
    calls = await tg.press(ADMIN, buttons(calls)["📤 Watch-only export"])
    (sent,) = [c for c in calls if isinstance(c, SendMessage)]
    assert sent.text.startswith("<b>Watch-only export</b>")
    assert "<b>BTC</b> (last index 20):\n<code>wpkh([" in sent.text
    assert "<b>ETH</b> (last index 0):\n<code>xpub" in sent.text


async def test_a_chart_that_cannot_be_drawn_is_an_alert_not_silence(
    tg: Telegram, sessions, monkeypatch, caplog
) -> None:
    """The child process fails (here: it runs a script that does not exist): the admin is told, the log says why."""
    monkeypatch.setattr("services.admin.chart.SCRIPT", "/nonexistent/chart.py")
    await seed_sales(sessions)
    calls = await tg.press(ADMIN, StatsCb(action=StatsAction.chart))
    assert not [c for c in calls if isinstance(c, SendPhoto)]
    (answer,) = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert answer.show_alert and (answer.text or "").startswith("The chart could not be drawn.")
    assert "revenue chart: exit code" in caplog.text
