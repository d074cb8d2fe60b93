"""Wallet: per coin the last derivation index used and the gap-limit monitor, provider health, the
watch-only export for Sparrow or Electrum, and the tokens waiting on invoice addresses to be swept."""

from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery

from config import Settings
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import answer, rows, to_menu
from handlers.keyboards import button
from l10n import L10n
from models.types import utcnow
from services.admin.wallet import AdminWalletService, GapReport, SweepReport
from services.money import format_amount
from services.payments.watch import ChainHealth, PaymentWatch


class WalletAction(StrEnum):
    export = "x"
    sweep = "s"


class WalletCb(CallbackData, prefix="aw"):
    action: WalletAction


def gap_line(report: GapReport, limit: int, l10n: L10n) -> str:
    def index(value: int | None) -> str:
        return "—" if value is None else str(value)

    line = l10n(
        "admin.wallet.chain",
        coin=report.chain.upper(),
        last=index(report.highest_index),
        paid=index(report.last_paid_index),
        gap=report.longest_gap,
    )
    if report.warn(limit):
        line += "\n" + l10n("admin.wallet.gap_warning", gap=report.longest_gap, limit=limit)
    return line


def health_line(coin: str, health: ChainHealth | None, l10n: L10n) -> str:
    if health is None or (health.last_ok_age_seconds is None and not health.failing):
        return l10n("admin.wallet.health_unknown", coin=coin)
    ago = (
        l10n("admin.wallet.never")
        if health.last_ok_age_seconds is None
        else l10n("admin.wallet.ago", seconds=int(health.last_ok_age_seconds))
    )
    if health.failing:
        return l10n("admin.wallet.health_failing", coin=coin, failures=health.failures, ago=ago)
    return l10n("admin.wallet.health_ok", coin=coin, ago=ago, took=f"{health.last_cycle_seconds:.1f}")


async def open_section(
    query: CallbackQuery, admin_wallet: AdminWalletService, payment_watch: PaymentWatch, settings: Settings, l10n: L10n
) -> None:
    reports = await admin_wallet.gap_reports()
    limit = settings.gap_limit_warn
    gaps = [gap_line(r, limit, l10n) for r in reports] or [l10n("admin.wallet.none")]
    parts = [l10n("admin.wallet.title"), *gaps]
    if any(r.warn(limit) for r in reports):
        parts.append(l10n("admin.wallet.gap_hint", limit=limit))
    providers = {h.chain: h for h in payment_watch.chain_health(utcnow())}
    health = [health_line(r.chain.upper(), providers.get(r.chain), l10n) for r in reports]
    parts.append("\n".join([l10n("admin.wallet.health"), *health]))
    await answer(
        query,
        "\n\n".join(parts),
        rows(
            [button(l10n("admin.wallet.export"), WalletCb(action=WalletAction.export))] if reports else [],
            [button(l10n("admin.wallet.sweep"), WalletCb(action=WalletAction.sweep))],
            [to_menu(l10n)],
        ),
    )


async def export(query: CallbackQuery, admin_wallet: AdminWalletService, l10n: L10n) -> None:
    exports = await admin_wallet.watch_only_exports()
    lines = [
        l10n(
            "admin.wallet.export_row",
            coin=e.chain.upper(),
            text=escape(e.text),
            last="—" if e.highest_index is None else e.highest_index,
        )
        for e in exports
    ]
    if query.bot is not None and query.from_user is not None:
        await query.bot.send_message(query.from_user.id, "\n\n".join([l10n("admin.wallet.export_title"), *lines]))


SHOWN_ADDRESSES = 10  # per network; `python -m bot wallet export` lists them all


def sweep_text(reports: list[SweepReport], l10n: L10n) -> str:
    parts = [l10n("admin.wallet.sweep_title")]
    for report in reports:
        network = report.coin.network
        if report.holdings is None:
            parts.append(l10n("admin.wallet.sweep_unknown", network=network))
            continue
        lines = [
            l10n("admin.wallet.sweep_row", token=unit.label, count=count, amount=format_amount(unit, total))
            for unit, (count, total) in report.totals.items()
        ] or [l10n("admin.wallet.sweep_empty", network=network)]
        lines += [
            l10n(
                "admin.wallet.sweep_address",
                index=h.index,
                address=h.address,
                amount=format_amount(h.unit, h.balance),
                symbol=h.unit.symbol,
            )
            for h in report.holdings[:SHOWN_ADDRESSES]
        ]
        if len(report.holdings) > SHOWN_ADDRESSES:
            lines.append(l10n("admin.wallet.sweep_more", more=len(report.holdings) - SHOWN_ADDRESSES))
        if fees := report.fees:
            total, each = (format_amount(report.coin, fee) for fee in fees)
            lines.append(l10n("admin.wallet.sweep_fee", total=total, each=each, coin=report.coin.symbol))
        parts.append("\n".join(lines))
    if len(parts) == 1:
        parts.append(l10n("admin.wallet.sweep_none"))
    return "\n\n".join(parts)


async def sweep(query: CallbackQuery, admin_wallet: AdminWalletService, l10n: L10n) -> None:
    reports = await admin_wallet.sweep_reports()
    back = button(l10n("nav.back"), AdminCb(section=AdminSection.wallet))
    await answer(query, sweep_text(reports, l10n), rows([back]))


def build() -> Router:
    router = Router(name="admin-wallet")
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.wallet))
    router.callback_query.register(export, WalletCb.filter(F.action == WalletAction.export))
    router.callback_query.register(sweep, WalletCb.filter(F.action == WalletAction.sweep))
    return router
