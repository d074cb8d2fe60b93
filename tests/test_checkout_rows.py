"""The rows a checkout writes, and what the pay step answers, compared with a golden file written by the code
before issue 18 made checkout lean (tests/data/checkout_rows.json). The same inputs on both databases: a
fixed clock, the fixture wallet's keys, fixed rates, a fresh database. Buyers check out in a coin; with a
shipping option, an address, a voucher code, part of their store credit and a coin's fee; with store credit
paying it all; again while an order is unpaid; and with too little stock. Every row of every table is
compared afterwards, so a row written, changed or left behind that was not before fails here.

A change that is meant to change these rows (a new column, say) regenerates the file with
`CHECKOUT_ROWS_WRITE=1 .venv/bin/python -m pytest tests/test_checkout_rows.py` (both databases), and its diff
shows what changed."""

import hashlib
import json
import os
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from aiogram.methods import TelegramMethod
from aiogram.types import BufferedInputFile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import models.types
import services.payments.rates
from config import ROOT
from handlers.callbacks import CartAction, CartCb, PayCb, ProductAction, ProductCb, ShipAction, ShipCb
from models.enums import Chain, ProductKind
from models.promotions import CartVoucher
from models.schema import metadata
from models.shop import ShippingOption, User
from services.payments.uri import PNG_SIGNATURE, _chunk
from services.wallet.goods import GoodsCipher
from tests.png import png_chunks
from tests.promo import seed_voucher
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons
from tests.test_credit import adjust

GOLDEN = ROOT / "tests" / "data" / "checkout_rows.json"
NOW = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
ADDRESS = "Paula Post\nMusterstraße 5\n12345 Berlin"
ALICE = Person(id=601, first_name="Alice", username="alice")
BOB = Person(id=602, first_name="Bob", username="bob")
CAROL = Person(id=603, first_name="Carol", username="carol")
DAVE = Person(id=604, first_name="Dave", username="dave")


class FixedClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> "FixedClock":
        return cls.fromtimestamp(NOW.timestamp(), tz)


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"coin_fees": {Chain.eth: Decimal(2)}})


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clocks the shop's rows read stand still: models.types.utcnow and the rates' time."""
    monkeypatch.setattr(models.types, "datetime", FixedClock)
    monkeypatch.setattr(services.payments.rates, "datetime", FixedClock)


async def test_checkout_writes_the_rows_it_wrote_before(
    tg: Telegram, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher
) -> None:
    licence = await seed_product(sessions, units=6)
    mug = await seed_product(sessions, name="Mug", kind=ProductKind.physical, units=4, category="Home")
    voucher = await seed_voucher(sessions, "SUMMER10", max_uses=5)
    async with sessions.begin() as s:
        s.add(ShippingOption(name="Express", price_minor=1200))
    pays: dict[str, Any] = {}

    # A coin, nothing else.
    await tg.send(ALICE, "/start")
    await tg.press(ALICE, ProductCb(action=ProductAction.add, id=licence, qty=2))
    pays["coin"] = await tg.press(ALICE, PayCb(chain=Chain.btc))
    pays["again"] = await tg.press(ALICE, PayCb(chain=Chain.ltc))  # the unpaid order comes back

    # An address and a shipping option, a voucher code, part of the credit, the coin's fee.
    await tg.send(BOB, "/start")
    await adjust(tg, sessions, BOB, "+5.00 sorry for the wait")
    await tg.press(BOB, ProductCb(action=ProductAction.add, id=mug, qty=2))
    await tg.press(BOB, ProductCb(action=ProductAction.add, id=licence, qty=1))
    async with sessions.begin() as s:
        bob = (await s.execute(select(User.id).where(User.telegram_id == BOB.id))).scalar_one()
        s.add(CartVoucher(user_id=bob, voucher_id=voucher))
    await tg.press(BOB, CartCb(action=CartAction.checkout))
    calls = await tg.send(BOB, ADDRESS)
    calls = await tg.press(BOB, buttons(calls)["Express · 12.00 USD"])
    calls = await tg.press(BOB, buttons(calls)["💳 Use store credit (5.00 USD)"])
    eth = next(label for label in buttons(calls) if label.startswith("ETH · "))
    pays["shipped"] = await tg.press(BOB, buttons(calls)[eth])

    await tg.send(DAVE, "/start")  # the last 3 in Dave's cart, before Carol takes one
    await tg.press(DAVE, ProductCb(action=ProductAction.add, id=licence, qty=3))

    # Store credit pays it all.
    await tg.send(CAROL, "/start")
    await adjust(tg, sessions, CAROL, "+20.00 refund for #7")
    await tg.press(CAROL, ProductCb(action=ProductAction.add, id=licence, qty=1))
    calls = await tg.press(CAROL, ShipCb(action=ShipAction.option, credit=True))
    pays["credit"] = await tg.press(CAROL, buttons(calls)["✅ Pay with store credit"])

    # Too little stock: nothing placed (last: a rolled-back order takes a PostgreSQL sequence value).
    pays["short"] = await tg.press(DAVE, PayCb(chain=Chain.sol))

    assert not tg.raised
    found = {"rows": await every_row(sessions, goods), "pay_steps": {k: calls_of(v) for k, v in pays.items()}}
    db = engine.dialect.name  # ids differ: SQLite reuses a deleted row's id, PostgreSQL's sequences never do
    if os.environ.get("CHECKOUT_ROWS_WRITE"):
        both = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        GOLDEN.write_text(json.dumps(both | {db: found}, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())[db]
    assert found["pay_steps"] == golden["pay_steps"]
    for table in sorted(golden["rows"].keys() | found["rows"].keys()):
        assert found["rows"].get(table) == golden["rows"].get(table), table


async def every_row(sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher) -> dict[str, list[Any]]:
    """Every row of every table that holds any, ordered by primary key, as JSON values."""
    found: dict[str, list[Any]] = {}
    async with sessions() as s:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = (await s.execute(select(table).order_by(*order))).mappings().all()
            if rows:
                found[table.name] = [{k: plain(table.name, k, v, row, goods) for k, v in row.items()} for row in rows]
    return found


def plain(table: str, column: str, value: Any, row: Any, goods: GoodsCipher) -> Any:
    if isinstance(value, bytes):  # sealed with a random nonce: what it opens to is what was written
        if table == "orders" and column == "address_enc":
            return "sealed: " + goods.open_address(value, row["id"])
        return "sealed"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | Decimal):
        return str(value)
    return value


def calls_of(calls: list[TelegramMethod[Any]]) -> list[Any]:
    """What the bot sent, as JSON; a photo as the SHA-256 of its bytes, its image data deflated at level 9."""
    shown: list[Any] = []
    for call in calls:
        photo = getattr(call, "photo", None)
        fields = call.model_dump(mode="json", exclude_none=True, exclude={"photo"}, fallback=repr)
        if isinstance(photo, BufferedInputFile):
            fields["photo"] = hashlib.sha256(deflated_at_level_9(photo.data)).hexdigest()
        shown.append({type(call).__name__: fields})
    return shown


def deflated_at_level_9(png: bytes) -> bytes:
    """The PNG with its image data inflated and deflated again at level 9, as the golden file's photos were
    written (the pay step's PNG is deflated at zlib's fastest level since): the digest follows the
    picture's scanlines, not the compressor's level."""
    chunks = png_chunks(png)
    chunks[b"IDAT"] = zlib.compress(zlib.decompress(chunks[b"IDAT"]), 9)
    return PNG_SIGNATURE + b"".join(_chunk(kind, data) for kind, data in chunks.items())
