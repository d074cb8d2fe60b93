"""The store credit ledger below the screens, on SQLite and PostgreSQL: appending is one conditional write that
never takes a balance below zero however many spends race (real concurrent tasks, each with its own session and
connection), a replayed key changes nothing, `python -m bot ledger check` finds a corrupted row, credit instead
of a refund taken as credit and expiry."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select, update

from models.credit import CreditBalance, CreditEntry
from models.enums import Chain, CreditKind
from models.ops import AuditLog, OutboxMessage
from models.shop import CartItem, User
from models.types import utcnow
from repositories.credit import CreditRepo, InsufficientCredit, NewEntry
from repositories.orders import OrderRepo
from services.admin.credit import AdjustmentRefused, AdminCreditService, parse_adjustment
from services.credit.account import CreditService, credit_line
from services.credit.ledger import CreditLedger
from services.payments.rates import rate_service_from_settings
from services.shop.catalog import NotFound
from services.shop.checkout import CheckoutService
from tests.admin_flow import one, rows
from tests.process import bot_command
from tests.shop import seed_product, variant_of

SPENDERS = 50


async def seed_buyer(sessions, telegram_id: int = 501) -> int:
    async with sessions.begin() as s:
        await s.execute(insert(User).values(telegram_id=telegram_id, language="en"))
        return int((await s.execute(select(User.id).where(User.telegram_id == telegram_id))).scalar_one())


async def give(sessions, settings, user_id: int, minor: int, key: str) -> None:
    async with sessions() as s:
        await AdminCreditService(s, settings).adjust("admin:1", user_id, minor, "goodwill", key)


async def check_out_one(sessions, settings, wallet, goods, user_id: int, *, use_credit: bool = False) -> int:
    """The buyer checks out one unit of a new product in LTC; returns the order's id."""
    product = await seed_product(sessions, units=5, goods=goods)
    async with sessions.begin() as s:
        s.add(CartItem(user_id=user_id, product_id=product, variant_id=await variant_of(s, product), quantity=1))
    async with sessions() as s:
        checkout = CheckoutService(s, settings, wallet, rate_service_from_settings(settings))
        return (await checkout.checkout(user_id, Chain.ltc, use_credit=use_credit)).order_id


async def balance_and_entries(sessions, user_id: int) -> tuple[int, list[tuple[str, int, int, int]]]:
    """(the stored balance, each entry as (kind, amount, before, after), oldest first)."""
    balance = await one(
        sessions,
        select(func.coalesce(func.sum(CreditBalance.balance_minor), 0)).where(CreditBalance.user_id == user_id),
    )
    entries = await rows(
        sessions,
        select(
            CreditEntry.kind,
            CreditEntry.amount_minor,
            CreditEntry.balance_before_minor,
            CreditEntry.balance_after_minor,
        )
        .where(CreditEntry.user_id == user_id)
        .order_by(CreditEntry.id),
    )
    return int(balance), [(k.value, a, b, c) for k, a, b, c in entries]


async def test_50_concurrent_spends_of_the_same_credit_never_take_it_below_zero(sessions, settings) -> None:
    """10.00 of credit, 50 tasks each spending 3.00 at once: exactly three get it, the rest are refused with
    nothing written, the balance ends at 1.00 and every entry chains."""
    user_id = await seed_buyer(sessions)
    await give(sessions, settings, user_id, 1000, "seed")

    async def spend(n: int) -> bool:
        async with sessions() as s:
            try:
                async with s.begin():
                    entry = NewEntry(f"spend:test:{n}", user_id, CreditKind.spend, -300, "buyer:501")
                    await CreditRepo(s).append(entry, utcnow())
            except InsufficientCredit:
                return False
            return True

    results = await asyncio.gather(*(spend(n) for n in range(SPENDERS)))
    assert results.count(True) == 3
    balance, entries = await balance_and_entries(sessions, user_id)
    assert balance == 100
    assert entries == [
        ("admin_adjustment", 1000, 0, 1000),
        ("spend", -300, 1000, 700),
        ("spend", -300, 700, 400),
        ("spend", -300, 400, 100),
    ]
    async with sessions() as s:
        assert await CreditService(s, settings).check() == []


async def test_50_concurrent_checkouts_with_credit_place_one_order_and_spend_it_once(
    sessions, settings, wallet, goods
) -> None:
    """One buyer's 50 checkouts at once, each applying their 5.00 of credit to a 12.50 cart: one order, one
    spend, an invoice for the rest; the others get that order back and spend nothing."""
    product = await seed_product(sessions, units=5, goods=goods)
    user_id = await seed_buyer(sessions)
    await give(sessions, settings, user_id, 500, "seed")
    async with sessions.begin() as s:
        s.add(CartItem(user_id=user_id, product_id=product, variant_id=await variant_of(s, product), quantity=1))
    rates = rate_service_from_settings(settings)

    async def checkout(_: int) -> tuple[int, bool]:
        async with sessions() as s:
            result = await CheckoutService(s, settings, wallet, rates).checkout(user_id, Chain.btc, use_credit=True)
            return result.order_id, result.existing

    results = await asyncio.gather(*(checkout(n) for n in range(SPENDERS)))
    assert len({order_id for order_id, _ in results}) == 1
    assert [existing for _, existing in results].count(False) == 1
    balance, entries = await balance_and_entries(sessions, user_id)
    assert (balance, entries) == (0, [("admin_adjustment", 500, 0, 500), ("spend", -500, 500, 0)])


async def test_replaying_an_entry_key_changes_nothing(sessions, settings, wallet, goods) -> None:
    user_id = await seed_buyer(sessions)
    async with sessions() as s:
        admin = AdminCreditService(s, settings)
        first = await admin.adjust("admin:1", user_id, 700, "goodwill", "adjust:1:1")
        again = await admin.adjust("admin:1", user_id, 700, "goodwill", "adjust:1:1")
    assert first == again
    order_id = await check_out_one(sessions, settings, wallet, goods, user_id, use_credit=True)
    async with sessions.begin() as s:  # the checkout's spend, written again
        await CreditLedger(s).spend(user_id, order_id, 700, "buyer:501", utcnow())
    async with sessions.begin() as s:  # and given back twice
        assert await CreditLedger(s).give_back(order_id, "observer", utcnow()) == 700
        assert await CreditLedger(s).give_back(order_id, "observer", utcnow()) == 0
    async with sessions.begin() as s:
        assert await CreditLedger(s).give_back(order_id, "observer", utcnow()) == 0
    for _ in range(2):  # a refund taken as credit, its key replayed
        async with sessions.begin() as s:
            order = await OrderRepo(s).get(order_id)
            assert order is not None
            await CreditLedger(s).refund_credit(order, 250, "refund:7", "buyer:501", "USD", utcnow())
    balance, entries = await balance_and_entries(sessions, user_id)
    assert balance == 950
    assert entries == [
        ("admin_adjustment", 700, 0, 700),
        ("spend", -700, 700, 0),
        ("give_back", 700, 0, 700),
        ("refund_credit", 250, 700, 950),
    ]
    notices = await rows(sessions, select(OutboxMessage.kind).where(OutboxMessage.kind.like("credit%")))
    assert sorted(k for (k,) in notices) == ["credit_adjusted", "credit_refund"]  # each told once
    audits = await rows(sessions, select(AuditLog.action).where(AuditLog.action.like("credit.%")))
    assert sorted(a for (a,) in audits) == ["credit.adjust"]  # a refund's audit row is its lifecycle step's


async def test_a_refund_credit_goes_to_the_orders_buyer_and_bad_input_is_refused(
    sessions, settings, wallet, goods
) -> None:
    """The ledger step of a refund taken as credit (OrderLifecycle.refund_credited): credit for the order's buyer
    and a message to them; nothing for a non-positive amount or a missing or overlong key."""
    user_id = await seed_buyer(sessions)
    order_id = await check_out_one(sessions, settings, wallet, goods, user_id)
    async with sessions.begin() as s:
        order = await OrderRepo(s).get(order_id)
        assert order is not None
        ledger = CreditLedger(s)
        entry, appended = await ledger.refund_credit(order, 1234, "refund:overpaid:1", "buyer:501", "USD", utcnow())
        for amount, key in ((0, "refund:2"), (-5, "refund:3"), (100, ""), (100, "k" * 129)):
            with pytest.raises(ValueError):
                await ledger.refund_credit(order, amount, key, "buyer:501", "USD", utcnow())
    line = credit_line(entry)
    assert appended and (line.kind, line.amount, line.order_id, line.balance_after) == (
        CreditKind.refund_credit,
        Decimal("12.34"),
        order_id,
        Decimal("12.34"),
    )
    assert await balance_and_entries(sessions, user_id) == (1234, [("refund_credit", 1234, 0, 1234)])
    (notice,) = await rows(
        sessions, select(OutboxMessage.order_id, OutboxMessage.params).where(OutboxMessage.kind == "credit_refund")
    )
    assert notice == (order_id, {"amount": "12.34 USD", "balance": "12.34 USD"})


async def test_adjustments_never_go_below_zero_and_need_a_reason(sessions, settings) -> None:
    user_id = await seed_buyer(sessions)
    await give(sessions, settings, user_id, 300, "seed")
    async with sessions() as s:
        admin = AdminCreditService(s, settings)
        with pytest.raises(AdjustmentRefused) as refused:
            await admin.adjust("admin:1", user_id, -301, "correction", "adjust:2")
        assert str(refused.value.balance) == "3.00"
        for amount, reason in ((0, "nothing"), (-1, "  ")):
            with pytest.raises(ValueError):
                await admin.adjust("admin:1", user_id, amount, reason, "adjust:3")
        with pytest.raises(NotFound):
            await admin.adjust("admin:1", user_id + 99, 100, "who?", "adjust:4")
        await admin.adjust("admin:1", user_id, -300, "correction", "adjust:5")
    assert await balance_and_entries(sessions, user_id) == (
        0,
        [("admin_adjustment", 300, 0, 300), ("admin_adjustment", -300, 300, 0)],
    )
    assert parse_adjustment("+5.00 goodwill gesture") == (500, "goodwill gesture")
    assert parse_adjustment("-2,5 correction") == (-250, "correction")
    for bad in (
        "5.00 no sign",
        "+5.001 too fine",
        "+5",
        "-abc x",
        "+0 zero",
        "+nan x",
        "+1e9 huge",
        "",
        "+5 " + "r" * 201,
    ):
        with pytest.raises(ValueError):
            parse_adjustment(bad)


async def test_unused_credit_expires_once_after_credit_expiry_days(sessions, settings) -> None:
    settings = settings.model_copy(update={"credit_expiry_days": 30})
    idle, active = await seed_buyer(sessions, 501), await seed_buyer(sessions, 502)
    await give(sessions, settings, idle, 800, "seed:idle")
    await give(sessions, settings, active, 400, "seed:active")
    now = utcnow()
    async with sessions.begin() as s:
        await s.execute(
            update(CreditEntry).where(CreditEntry.user_id == idle).values(created_at=now - timedelta(days=31))
        )
    async with sessions() as s:
        assert await CreditService(s, settings.model_copy(update={"credit_expiry_days": 0})).expire_due(now) == 0
        assert await CreditService(s, settings).expire_due(now) == 1
        assert await CreditService(s, settings).expire_due(now) == 0  # twice: nothing more
        assert await CreditService(s, settings).expire_due(now + timedelta(days=29)) == 0
    assert await balance_and_entries(sessions, idle) == (
        0,
        [("admin_adjustment", 800, 0, 800), ("expiry", -800, 800, 0)],
    )
    assert (await balance_and_entries(sessions, active))[0] == 400
    async with sessions() as s:
        assert await CreditService(s, settings).expire_due(now + timedelta(days=31)) == 1  # the other one, later
        assert await CreditService(s, settings).check() == []


async def test_the_ledger_check_command_reports_a_corrupted_row(sessions, settings, db_url) -> None:
    alice, bob = await seed_buyer(sessions, 501), await seed_buyer(sessions, 502)
    await give(sessions, settings, alice, 500, "a1")
    await give(sessions, settings, alice, -200, "a2")
    await give(sessions, settings, alice, 100, "a3")
    await give(sessions, settings, bob, 900, "b1")
    ok = bot_command(db_url, "ledger", "check")
    assert (ok.returncode, ok.stdout) == (0, "ledger consistent\n"), ok.stderr

    middle = await one(sessions, select(CreditEntry.id).where(CreditEntry.key == "a2"))
    async with sessions.begin() as s:  # someone edits an entry by hand
        await s.execute(update(CreditEntry).where(CreditEntry.id == middle).values(amount_minor=-100))
        await s.execute(update(CreditBalance).where(CreditBalance.user_id == bob).values(balance_minor=950))
    bad = bot_command(db_url, "ledger", "check")
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.splitlines() == [
        f"buyer {alice}: entry {middle}: balance_after 300 ≠ balance_before 500 + amount -100",
        f"buyer {alice}: stored balance: stored balance 400 ≠ sum of entries 500",
        f"buyer {bob}: stored balance: stored balance 950 ≠ sum of entries 900",
        "ledger inconsistent: 3 problem(s)",
    ]
