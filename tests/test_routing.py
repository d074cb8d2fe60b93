"""What an update costs the framework: routers gated on their presses' prefixes (handlers.gates), and the
services an update builds (bot.middlewares: those its handler and the filters ask for, not all of them)."""

from collections import Counter
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.types import CallbackQuery, User

from bot import container as container_module
from handlers import build_routers, start
from handlers.callbacks import LanguageCb, MenuAction, MenuCb
from handlers.gates import PressPrefixes, gate_presses, press_prefixes
from tests.telegram import Person, Telegram


async def nothing() -> None: ...


def press(data: str | None) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=User(id=1, is_bot=False, first_name="A"), chat_instance="1", data=data)


def gate_of(router: Router) -> PressPrefixes | None:
    gates = [f.callback for f in router.callback_query._handler.filters or () if isinstance(f.callback, PressPrefixes)]
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


def test_a_press_handler_without_callback_data_leaves_its_router_and_those_above_ungated() -> None:
    parent, child = Router(), Router()
    parent.callback_query.register(nothing, MenuCb.filter())
    child.callback_query.register(nothing)  # takes any press
    parent.include_router(child)
    assert press_prefixes(child) is None
    assert press_prefixes(parent) is None
    gate_presses(parent)
    assert gate_of(parent) is None
    assert gate_of(child) is None


def test_the_prefixes_of_sub_routers_open_the_gate_above_them() -> None:
    parent, child = Router(), Router()
    parent.callback_query.register(nothing, MenuCb.filter())
    child.callback_query.register(nothing, LanguageCb.filter())
    parent.include_router(child)
    assert press_prefixes(parent) == {":": frozenset({MenuCb.__prefix__, LanguageCb.__prefix__})}


def test_the_shops_routers_are_gated_where_they_can_be() -> None:
    routers = {router.name: router for router in build_routers()}
    start_gate = gate_of(routers["start"])
    assert start_gate is not None
    assert press_prefixes(routers["start"]) == {":": frozenset({MenuCb.__prefix__, LanguageCb.__prefix__})}
    for name in ("shop", "cart", "orders", "account"):
        assert gate_of(routers[name]) is not None, name
    # any press ends a buyer's wait (and checkout's own wait for an address), and the fallback answers any
    # press nobody took
    assert gate_of(routers["buyer-prompts"]) is None
    assert gate_of(routers["checkout"]) is None
    assert gate_of(routers["fallback"]) is None


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
