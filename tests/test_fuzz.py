"""Hostile input, generated: forged callback data, free text in every conversation state, and broken
catalog files. No unhandled exception, a clear answer, and no state change.

FUZZ_EXAMPLES sets the examples per target (default 2,500; with 500 catalog imports and 2 × 1,000 webhook
requests in tests/test_webhook.py that is 10,000 cases)."""

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import AnswerCallbackQuery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from config import Settings
from handlers import build_routers
from handlers.callbacks import OrderAction, OrderCb
from l10n import Translator
from models.database import create_engine, create_sessionmaker
from models.schema import metadata
from processing.observer import Observer
from services.catalog_io.format import CatalogErrors, load_catalog_json, parse_catalog
from services.catalog_io.importer import CatalogImporter
from services.payments.rates import rate_service_from_settings
from services.wallet.goods import GoodsCipher
from tests.conftest import ADMIN_ID, RATES, TOKEN, UNTHROTTLED
from tests.keys import WALLET_KEY
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PREFIXES = ["m", "lg", "ct", "pr", "ca", "pay", "od", "adm", "ao", "ap", "sp", "ai", "au", "ab", "as", "aw", ""]
EXTREME = st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**62, 2**63, -(2**63), 10**30]).map(str)


def _all_callback_data() -> list[type[CallbackData]]:
    build_routers()  # imports every router module
    found, todo = [], list(CallbackData.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(found, key=lambda c: c.__prefix__)


def _field(annotation: Any) -> st.SearchStrategy[str]:
    """A value for one field: any member of an enum, or an extreme number, or junk."""
    kinds = [t for t in getattr(annotation, "__args__", (annotation,)) if isinstance(t, type)]
    enums = [str(v.value) for t in kinds if issubclass(t, Enum) for v in t]
    return st.one_of(st.sampled_from(enums), EXTREME) if enums else st.one_of(EXTREME, st.text(max_size=6))


# Well-formed but forged: every prefix with its own field layout, each field any enum member or an
# extreme number (an id or page no column can hold must be refused, not overflow a query).
structured = st.sampled_from(_all_callback_data()).flatmap(
    lambda cls: st.tuples(*(_field(f.annotation) for f in cls.model_fields.values())).map(
        lambda parts: ":".join([cls.__prefix__, *parts])
    )
)
callback_data = st.one_of(
    structured,
    st.text(max_size=80),
    st.builds(
        lambda p, parts: ":".join([p, *parts]),
        st.sampled_from(PREFIXES),
        st.lists(st.one_of(st.text(max_size=12), st.integers(-(2**70), 2**70).map(str)), max_size=5),
    ),
)
STATEFUL = {"users", "cart_items", "outbox", "audit_log", "webhook_events", "leases"}  # may change harmlessly


def snapshot(loop: asyncio.AbstractEventLoop, sessions: Any) -> dict[str, Any]:
    """Every row of every table that invalid input must not touch."""

    async def read() -> dict[str, Any]:
        async with sessions() as s:
            return {
                t.name: sorted(map(repr, (await s.execute(select(t))).all()))
                for t in metadata.sorted_tables
                if t.name not in STATEFUL
            }

    return loop.run_until_complete(read())


@dataclass
class Fuzz:
    loop: asyncio.AbstractEventLoop
    tg: Telegram
    sessions: Any
    goods: GoodsCipher

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


@pytest.fixture
def fuzz(sqlite_template: Path, tmp_path: Path, wallet: Any, goods: GoodsCipher) -> Iterator[Fuzz]:
    """A stocked shop on SQLite behind the real Dispatcher, driven from a loop of the test's own
    (hypothesis runs plain functions; each example awaits on this loop)."""
    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    settings_ = Settings(
        _env_file=None,
        bot_token=TOKEN,
        database_url=url,
        admin_ids=frozenset({ADMIN_ID}),
        rates_fixed=RATES,
        wallet_key=WALLET_KEY,
        throttle_burst=UNTHROTTLED,  # forged data must reach the handlers, not the throttle
    )
    loop = asyncio.new_event_loop()
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    container = Container(
        settings=settings_,
        sessions=sessions,
        translator=Translator(),
        wallet=wallet,
        rates=rate_service_from_settings(settings_),
        goods=goods,
        observer=Observer(sessions, settings_, backends={}),
    )
    recording = RecordingSession()
    tg = Telegram(
        dp=create_dispatcher(container, MemoryStorage()), bot=create_bot(settings_, recording), session=recording
    )
    loop.run_until_complete(seed_product(sessions, units=3, goods=goods))
    yield Fuzz(loop, tg, sessions, goods)
    loop.run_until_complete(engine.dispose())
    loop.close()


def test_forged_callback_data_is_answered_and_changes_nothing(fuzz: Fuzz) -> None:
    mallory = Person(id=7001)
    fuzz.run(fuzz.tg.send(mallory, "/start"))
    before = snapshot(fuzz.loop, fuzz.sessions)

    @FUZZ
    @given(data=callback_data)
    def press(data: str) -> None:
        calls = fuzz.run(fuzz.tg.press(mallory, data[:64]))  # Telegram never delivers more than 64 bytes
        assert any(isinstance(c, AnswerCallbackQuery) for c in calls), data

    press()
    assert snapshot(fuzz.loop, fuzz.sessions) == before


def test_free_text_in_every_state_gets_an_answer(fuzz: Fuzz) -> None:
    eve = Person(id=7002)
    fuzz.run(fuzz.tg.send(eve, "/start"))
    before = snapshot(fuzz.loop, fuzz.sessions)
    # no state, support state, the voucher code prompt, admin (denied), reset
    entry_points = ["", "m:support", "ca:o", "/admin", "/start"]

    @FUZZ
    @given(entry=st.sampled_from(entry_points), text=st.text(min_size=1, max_size=300))
    def talk(entry: str, text: str) -> None:
        if entry.startswith("/"):
            fuzz.run(fuzz.tg.send(eve, entry))
        elif entry:
            fuzz.run(fuzz.tg.press(eve, entry))
        calls = fuzz.run(fuzz.tg.send(eve, text))
        assert calls, text

    talk()
    after = snapshot(fuzz.loop, fuzz.sessions)
    assert after == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False).map(str),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["categories", "subcategories", "products", "name", "price", "kind", "stock", "quantity", "description"]
            )
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=10,
)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_broken_catalog_files_are_rejected_with_paths(raw: bytes) -> None:
    try:
        data = load_catalog_json(raw)
    except CatalogErrors as e:
        assert e.problems and all(p.startswith("$") for p in e.problems)
        return
    _, problems = parse_catalog(data)
    assert all(":" in p for p in problems)


def test_broken_catalog_files_change_nothing(fuzz: Fuzz) -> None:
    before = snapshot(fuzz.loop, fuzz.sessions)

    async def import_(data: Any) -> None:
        async with fuzz.sessions() as s:
            with contextlib.suppress(CatalogErrors):
                await CatalogImporter(s, fuzz.goods).import_catalog(data)

    @settings(
        max_examples=min(EXAMPLES, 500),
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(data=json_values.filter(lambda d: parse_catalog(d)[1]))  # invalid files only
    def import_invalid(data: Any) -> None:
        fuzz.run(import_(data))

    import_invalid()
    assert snapshot(fuzz.loop, fuzz.sessions) == before


def test_order_callbacks_carry_ids_only() -> None:
    assert len(OrderCb(action=OrderAction.cancel, id=2**31 - 1, page=100_000).pack().encode()) <= 64
    with pytest.raises(ValueError):  # a forged id no column can hold is refused before any query
        OrderCb.unpack(f"od:x:{2**31}:0")
