"""Admin access is checked once on the admin router: nothing admin-only reaches anyone else."""

import importlib
import pkgutil
import typing
from enum import Enum
from typing import Any

from aiogram.filters.callback_data import CallbackData
from sqlalchemy import func, select

from handlers import admin as admin_package
from handlers.admin.broadcast import BroadcastAction, BroadcastCb
from handlers.admin.inventory import InvAction, InvCb, KindCb, Node
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.stats import StatsAction, StatsCb
from handlers.admin.users import UserAction, UsersCb
from handlers.admin.wallet import WalletAction, WalletCb
from handlers.callbacks import PayCb, ProductAction, ProductCb
from models.enums import Chain, ProductKind
from models.ops import AuditLog, OutboxMessage
from models.orders import Order
from models.shop import Product, StockUnit, User
from services.admin.stats import Period
from tests.conftest import ADMIN_ID
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts


async def test_admin_gets_the_menu(tg: Telegram) -> None:
    calls = await tg.send(Person(id=ADMIN_ID), "/admin")
    assert texts(calls) == ["🛠 Admin panel"]
    assert "📦 Orders" in buttons(calls)


async def test_non_admin_gets_no_admin_content(tg: Telegram) -> None:
    mallory = Person(id=666)
    calls = await tg.send(mallory, "/admin")
    assert texts(calls) == ["I did not understand that. Use the buttons below."]
    for section in AdminSection:
        calls = await tg.press(mallory, AdminCb(section=section))
        assert "This button is out of date. Here is the current view." in texts(calls)
        assert not any("Admin" in t for t in texts(calls))


async def test_non_admin_forging_section_callbacks_changes_and_learns_nothing(tg: Telegram, sessions, goods) -> None:
    """Every button of inventory, users, broadcast, statistics and wallet, pressed by someone else."""
    product = await seed_product(sessions, units=1, goods=goods)
    mallory = Person(id=666)
    await tg.send(mallory, "/start")
    async with sessions() as s:
        victim = (await s.execute(select(User.id).where(User.telegram_id == 666))).scalar_one()
    forged = [
        *(InvCb(action=a, node=n, id=i) for a in InvAction for n in Node for i in (0, product)),
        *(KindCb(kind=k) for k in ProductKind),
        *(UsersCb(action=a, id=victim, n=1) for a in UserAction),
        *(BroadcastCb(action=a) for a in BroadcastAction),
        *(StatsCb(action=a, period=p) for a in StatsAction for p in Period),
        *(WalletCb(action=a) for a in WalletAction),
    ]
    for data in forged:
        calls = await tg.press(mallory, data)
        assert sorted(texts(calls)) == ["Main menu", "This button is out of date. Here is the current view."], data
        assert not any(type(c).__name__ in ("SendPhoto", "SendDocument") for c in calls), data
    for text in ("KEY-1", "@mallory", "Hello everyone"):  # no dialog is open for them
        assert texts(await tg.send(mallory, text)) == ["I did not understand that. Use the buttons below."]
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(AuditLog))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(StockUnit))).scalar_one() == 1
        assert (await s.execute(select(Product.is_active).where(Product.id == product))).scalar_one() is True
        assert (await s.execute(select(User.is_banned).where(User.id == victim))).scalar_one() is False


def admin_callback_classes() -> list[type[CallbackData]]:
    """Every CallbackData class the admin package defines, found rather than listed."""
    found = []
    for module in pkgutil.iter_modules(admin_package.__path__):
        loaded = importlib.import_module(f"{admin_package.__name__}.{module.name}")
        found += [
            c
            for c in vars(loaded).values()
            if isinstance(c, type)
            and issubclass(c, CallbackData)
            and c is not CallbackData
            and c.__module__ == loaded.__name__
        ]
    return found


def forgeries(cls: type[CallbackData]) -> list[CallbackData]:
    """One press per value of each enum field; ids point at order, user and product 1, which exist."""

    def enum_of(annotation: Any) -> type[Enum] | None:
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, Enum):
                return candidate
        return None

    base: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        enum = enum_of(field.annotation)
        base[name] = (
            next(iter(enum)) if enum and field.is_required() else 1 if field.annotation is int else field.default
        )
    presses = [cls(**base)]
    for name, field in cls.model_fields.items():
        enum = enum_of(field.annotation)
        presses += [cls(**{**base, name: member}) for member in enum or ()]
    return presses


async def test_forged_admin_callbacks_and_commands_do_nothing_for_others(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods, kind=ProductKind.physical)
    buyer, mallory = Person(id=601), Person(id=666)
    await tg.press(buyer, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(buyer, PayCb(chain=Chain.btc))
    before = await snapshot(sessions)
    classes = admin_callback_classes()
    assert {"AdminCb", "AdminOrderCb", "ProblemCb"} <= {c.__name__ for c in classes}
    for cls in classes:
        for forged in forgeries(cls):
            calls = await tg.press(mallory, forged)
            assert sorted(texts(calls)) == ["Main menu", "This button is out of date. Here is the current view."], (
                forged
            )
    for command in ("/admin", "/order 1", "/order"):
        assert texts(await tg.send(mallory, command)) == ["I did not understand that. Use the buttons below."]
    assert await snapshot(sessions) == before


async def snapshot(sessions) -> tuple[Any, ...]:
    async with sessions() as s:
        return (
            tuple((await s.execute(select(Order.id, Order.status, Order.problem))).all()),
            (await s.execute(select(func.count()).select_from(AuditLog))).scalar_one(),
            (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one(),
            tuple((await s.execute(select(StockUnit.id, StockUnit.status))).all()),
        )
