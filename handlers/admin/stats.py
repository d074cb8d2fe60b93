"""Statistics: today, 7 and 30 days at a glance; the 30-day revenue chart; CSV reconciliation exports, and the
store credit ledger as a CSV."""

import logging
from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import answer, rows, to_menu
from handlers.keyboards import button
from handlers.render import alert
from l10n import L10n
from services.admin.chart import ChartFailed
from services.admin.credit import AdminCreditService
from services.admin.stats import AdminStatsService, Overview, Period, PeriodStats
from services.money import format_amount, format_fiat

log = logging.getLogger(__name__)


class StatsAction(StrEnum):
    chart = "g"
    export = "e"
    ledger = "l"  # the store credit ledger


class StatsCb(CallbackData, prefix="as"):
    action: StatsAction
    period: Period = Period.today


def period_text(stats: PeriodStats, l10n: L10n) -> str:
    revenue = ", ".join(format_fiat(v, c) for c, v in stats.revenue.items()) or "0"
    coins = ", ".join(f"{format_amount(a, v)} {a.label}" for a, v in stats.received.items()) or "—"
    conversion = "—" if stats.conversion is None else f"{stats.conversion}%"
    return l10n(
        "admin.stats.period",
        period=l10n(f"admin.stats.{stats.period.name}"),
        orders=stats.orders,
        sold=stats.sold,
        revenue=revenue,
        coins=coins,
        conversion=conversion,
        paid=stats.invoices_paid,
        invoices=stats.invoices,
    )


def overview_text(overview: Overview, currency: str, l10n: L10n) -> str:
    top = [
        l10n(
            "admin.stats.top_row", rank=n, name=escape(p.name), units=p.units, revenue=format_fiat(p.revenue, currency)
        )
        for n, p in enumerate(overview.top, 1)
    ] or [l10n("admin.stats.top_none")]
    return "\n\n".join(
        [
            l10n("admin.stats.title"),
            *(period_text(p, l10n) for p in overview.periods),
            "\n".join([l10n("admin.stats.top"), *top]),
        ]
    )


def stats_menu(l10n: L10n) -> InlineKeyboardMarkup:
    return rows(
        [button(l10n("admin.stats.chart"), StatsCb(action=StatsAction.chart))],
        [
            button(
                l10n("admin.stats.csv", period=l10n(f"admin.stats.{p.name}")),
                StatsCb(action=StatsAction.export, period=p),
            )
            for p in Period
        ],
        [button(l10n("admin.stats.ledger_csv"), StatsCb(action=StatsAction.ledger))],
        [to_menu(l10n)],
    )


async def open_section(query: CallbackQuery, admin_stats: AdminStatsService, settings: Settings, l10n: L10n) -> None:
    await answer(query, overview_text(await admin_stats.overview(), settings.fiat_currency, l10n), stats_menu(l10n))


async def chart(
    query: CallbackQuery, admin_stats: AdminStatsService, l10n: L10n, callback_answer: CallbackAnswer
) -> None:
    try:
        png = await admin_stats.revenue_chart()
    except ChartFailed as e:  # the child process that draws it failed: say so, and why in the log
        log.error("revenue chart: %s", e)
        alert(callback_answer, l10n("admin.stats.chart_failed"))
        return
    if query.bot is not None and query.from_user is not None:
        await query.bot.send_photo(
            query.from_user.id, BufferedInputFile(png, "revenue-30d.png"), caption=l10n("admin.stats.chart_caption")
        )


async def export(query: CallbackQuery, callback_data: StatsCb, admin_stats: AdminStatsService, l10n: L10n) -> None:
    result = await admin_stats.reconciliation(callback_data.period)
    if query.bot is not None and query.from_user is not None:
        await query.bot.send_document(
            query.from_user.id,
            BufferedInputFile(result.content, result.filename),
            caption=l10n(
                "admin.stats.csv_caption", orders=result.orders, period=l10n(f"admin.stats.{callback_data.period.name}")
            ),
        )


async def export_ledger(query: CallbackQuery, admin_credit: AdminCreditService, l10n: L10n) -> None:
    result = await admin_credit.ledger_csv()
    if query.bot is not None and query.from_user is not None:
        await query.bot.send_document(
            query.from_user.id,
            BufferedInputFile(result.content, result.filename),
            caption=l10n("admin.stats.ledger_caption", entries=result.entries),
        )


def build() -> Router:
    router = Router(name="admin-stats")
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.stats))
    router.callback_query.register(chart, StatsCb.filter(F.action == StatsAction.chart))
    router.callback_query.register(export, StatsCb.filter(F.action == StatsAction.export))
    router.callback_query.register(export_ledger, StatsCb.filter(F.action == StatsAction.ledger))
    return router
