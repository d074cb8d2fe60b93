"""What an update costs the framework: routers gated on their presses' prefixes (handlers.gates), a press's
data unpacked once (handlers.callbacks.UnpackedOnce), the services an update builds (bot.middlewares: those its
handler and the filters ask for, not all of them), how a read_only transaction opens and how its session is
closed (models.database)."""

from collections import Counter
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, User
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import greenlet_spawn

from bot import container as container_module
from handlers import build_routers, callbacks, start
from handlers.callbacks import LanguageCb, MenuAction, MenuCb, ProductAction, ProductCb, UnpackedOnce
from handlers.find import SearchForm
from handlers.gates import PressGate, Takes, gate_presses, router_takes
from handlers.prompts import leaving_router, waiting_router
from handlers.support import SupportForm
from models import database
from models.database import close_session, read_only
from repositories.users import UserRepo
from tests.telegram import Person, Telegram


async def nothing() -> None: ...


def press(data: str | None) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=User(id=1, is_bot=False, first_name="A"), chat_instance="1", data=data)


def gate_of(router: Router) -> PressGate | None:
    gates = [f.callback for f in router.callback_query._handler.filters or () if isinstance(f.callback, PressGate)]
    assert len(gates) <= 1
    return gates[0] if gates else None


async def test_a_gate_lets_through_only_its_handlers_prefixes() -> None:
    router = Router()
    router.callback_query.register(nothing, MenuCb.filter(F.action == MenuAction.main))
    router.callback_query.register(nothing, LanguageCb.filter())
    gate_presses(router)
    gate = gate_of(router)
    assert gate is not None
    assert await gate(press(MenuCb(action=MenuAction.main).pack()))
    assert await gate(press(LanguageCb(code="de").pack()))
    assert not await gate(press(f"{MenuCb.__prefix__}x:main"))  # a longer prefix is another CallbackData
    assert not await gate(press("other:1"))
    assert not await gate(press(""))
    assert not await gate(press(None))


async def test_a_gate_lets_through_any_press_in_its_prompts_wait_states() -> None:
    router, _ = waiting_router("waits", SearchForm)
    router.callback_query.register(nothing, MenuCb.filter())
    gate_presses(router)
    gate = gate_of(router)
    assert gate is not None
    assert router_takes(router) == Takes({":": frozenset({MenuCb.__prefix__})}, frozenset({"SearchForm:text"}))
    assert await gate(press("other:1"), raw_state=SearchForm.text.state)
    assert await gate(press(None), raw_state=SearchForm.text.state)
    assert not await gate(press("other:1"), raw_state=SupportForm.waiting.state)
    assert not await gate(press("other:1"))
    assert await gate(press(MenuCb(action=MenuAction.main).pack()), raw_state=SupportForm.waiting.state)


def test_a_router_with_only_a_prompts_wait_states_is_left_ungated() -> None:
    router = leaving_router("waits", SearchForm)
    assert router_takes(router) == Takes({}, frozenset({"SearchForm:text"}))
    gate_presses(router)
    assert gate_of(router) is None  # its `leave` checks the state as cheaply as a gate would


def test_a_press_handler_without_callback_data_leaves_its_router_and_those_above_ungated() -> None:
    parent, child = Router(), Router()
    parent.callback_query.register(nothing, MenuCb.filter())
    child.callback_query.register(nothing)  # takes any press
    parent.include_router(child)
    assert router_takes(child) is None
    assert router_takes(parent) is None
    gate_presses(parent)
    assert gate_of(parent) is None
    assert gate_of(child) is None


def test_the_prefixes_of_sub_routers_open_the_gate_above_them() -> None:
    parent, child = Router(), Router()
    parent.callback_query.register(nothing, MenuCb.filter())
    child.callback_query.register(nothing, LanguageCb.filter())
    parent.include_router(child)
    assert router_takes(parent) == Takes({":": frozenset({MenuCb.__prefix__, LanguageCb.__prefix__})})


def test_the_shops_routers_are_gated_where_they_can_be() -> None:
    routers = {router.name: router for router in build_routers()}
    start_gate = gate_of(routers["start"])
    assert start_gate is not None
    assert router_takes(routers["start"]) == Takes({":": frozenset({MenuCb.__prefix__, LanguageCb.__prefix__})})
    for name in ("shop", "cart", "orders", "account"):
        assert gate_of(routers[name]) is not None, name
    # the routers with a prompt of their own: their prefixes, or any press while their prompt waits
    waits = ("vouchers", "checkout", "support", "order-messages", "find", "reviews", "refunds")
    for name in waits:
        assert gate_of(routers[name]) is not None, name
    checkout_takes = router_takes(routers["checkout"])
    assert checkout_takes is not None
    assert checkout_takes.states == {"AddressForm:checkout", "AddressForm:order"}
    # any press ends a buyer's wait, and the fallback answers any press nobody took
    assert gate_of(routers["buyer-prompts"]) is None
    assert gate_of(routers["fallback"]) is None


def test_a_press_is_unpacked_once_for_each_data() -> None:
    data = ProductCb(action=ProductAction.view, id=7, var=2).pack()
    first = ProductCb.unpack(data)
    assert first == ProductCb(action=ProductAction.view, id=7, var=2)
    assert ProductCb.unpack(data) is first
    with pytest.raises(ValidationError):  # one update's callback_data is another's
        first.qty = 2
    for forged in (f"{ProductCb.__prefix__}:v:{2**31}:1:c:0:0", "other:1", f"{ProductCb.__prefix__}:v"):
        for _ in range(2):  # raises each time: nothing kept
            with pytest.raises((TypeError, ValueError)):
                ProductCb.unpack(forged)


def test_every_buyer_press_is_unpacked_once() -> None:
    classes = [v for v in vars(callbacks).values() if isinstance(v, type) and v.__module__ == callbacks.__name__]
    presses = [cls for cls in classes if issubclass(cls, CallbackData)]
    assert len(presses) > 10
    assert [cls.__name__ for cls in presses if not issubclass(cls, UnpackedOnce)] == []


async def test_a_read_only_transaction_opens_in_one_trip_and_ends_as_async_with_begin_would(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[str] = []
    spawn = greenlet_spawn

    async def counted(fn: Any, *args: Any) -> Any:
        trips.append(getattr(fn, "__name__", "?"))
        return await spawn(fn, *args)

    monkeypatch.setattr(database, "greenlet_spawn", counted)
    async with sessions() as session:
        async with read_only(session):
            assert session.in_transaction()
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
        assert trips == ["_begin_read_only", "__exit__"]
        assert not session.in_transaction()
        with pytest.raises(ZeroDivisionError):
            async with read_only(session):
                await session.execute(text("SELECT 1"))
                raise ZeroDivisionError
        assert not session.in_transaction()
        async with read_only(session):  # the session is usable again
            await UserRepo(session).by_telegram_id(1)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_an_update_builds_only_the_services_its_handler_and_the_filters_ask_for(
    tg: Telegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: Counter[str] = Counter()
    for name, build in list(container_module.SERVICES.items()):

        def counted(c: Any, s: Any, name: str = name, build: Any = build) -> object:
            built[name] += 1
            return build(c, s)

        monkeypatch.setitem(container_module.SERVICES, name, counted)
    await tg.send(Person(id=201), "/start")
    # the user middleware's, the admins' support-reply filter's, and /start's own
    asked = {"users", "support"} | (set(start.start.__annotations__) & container_module.SERVICES.keys())
    assert asked == {"users", "support", "cart", "loyalty", "shop_texts"}
    assert built == Counter(dict.fromkeys(asked, 1))


async def test_closing_a_session_forgets_its_objects_and_rolls_back_what_was_left_open(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    session = sessions()
    async with session.begin():
        kim = await UserRepo(session).insert_if_missing(301, "kim", "en")
    assert kim in session  # the identity map holds it weakly
    await close_session(session)
    assert kim not in session

    session = sessions()
    async with session.begin():
        await UserRepo(session).insert_if_missing(302, "lee", "en")
    await session.execute(text("SELECT 1"))  # a transaction left open
    await UserRepo(session).insert_if_missing(303, "max", "en")
    await close_session(session)
    assert not session.in_transaction()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with sessions() as check:
        known = (await check.execute(text("SELECT telegram_id FROM users ORDER BY telegram_id"))).scalars().all()
    assert 303 not in known
    assert {301, 302} <= set(known)
