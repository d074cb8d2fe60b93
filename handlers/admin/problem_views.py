"""The problem queue's buttons and texts: pure functions from DTOs and strings."""

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import ApAction, ProblemCb, open_order, signed_amount
from handlers.admin.refund_views import ArAction, RefundAdminCb, refund_buttons, refund_text
from handlers.keyboards import button, paged
from l10n import L10n
from services.admin.dto import ProblemPage, ProblemRow, Resolution
from services.dto import NamedItem
from services.money import format_amount, format_fiat

RESOLUTION_BUTTONS = {
    Resolution.fulfil: ApAction.fulfil,
    Resolution.refund: ApAction.refund,
    Resolution.close: ApAction.close,
    Resolution.resend: ApAction.resend,
}


def amounts(row: ProblemRow, l10n: L10n) -> str:
    if row.unit is None:
        return ""
    return l10n(
        "admin.problems.amounts",
        due=format_amount(row.unit, row.due),
        received=format_amount(row.unit, row.received),
        coin=row.unit.label,
        difference=signed_amount(row.unit, row.difference),
        fiat=format_fiat(row.difference_fiat, row.currency),
    )


def queue(page: ProblemPage, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    if not page.rows:
        text = l10n("admin.problems.empty")
    else:
        text = "\n\n".join(
            [
                l10n("admin.problems.title", page=page.page + 1),
                *(f"{_headline(row, l10n)}\n{amounts(row, l10n)}" for row in page.rows),
            ]
        )
    items = [NamedItem(row.id, _headline(row, l10n)) for row in page.rows]
    return text, paged(
        items,
        page.page,
        page.has_next,
        lambda i: ProblemCb(action=ApAction.view, id=i),
        lambda p: ProblemCb(action=ApAction.list, page=p),
        AdminCb(section=AdminSection.home),
        l10n,
    )


def _headline(row: ProblemRow, l10n: L10n) -> str:
    return l10n(
        "admin.problems.row",
        order_id=row.id,
        problem=l10n(f"admin.problems.kind.{row.problem}"),
        status=l10n(f"status.{row.status}"),
    )


def problem_text(row: ProblemRow, l10n: L10n) -> str:
    return "\n\n".join(
        filter(
            None,
            [
                l10n(
                    "admin.problems.head",
                    order_id=row.id,
                    problem=l10n(f"admin.problems.kind.{row.problem}"),
                    status=l10n(f"status.{row.status}"),
                ),
                amounts(row, l10n),
                refund_text(row.refund, l10n) if row.refund else l10n(f"admin.problems.hint.{row.problem}"),
                l10n("admin.refunds.refused.token") if row.refund_off_bot else "",
            ],
        )
    )


def problem_keyboard(row: ProblemRow, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if row.refund:
        refund_buttons(row.refund, kb, l10n)
    for resolution in row.resolutions:
        data = (
            RefundAdminCb(action=ArAction.start, id=row.id, problem=row.problem)
            if resolution is Resolution.onchain
            else ProblemCb(action=RESOLUTION_BUTTONS[resolution], id=row.id, problem=row.problem)
        )
        kb.row(button(l10n(f"admin.problems.do.{resolution}"), data))
    kb.row(
        button(l10n("admin.problems.order"), open_order(row.id)),
        button(l10n("nav.back"), ProblemCb(action=ApAction.list)),
    )
    return kb.as_markup()


def confirm_fulfil(row: ProblemRow, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(
        button(
            l10n("admin.problems.fulfil_yes"), ProblemCb(action=ApAction.fulfil_now, id=row.id, problem=row.problem)
        ),
        button(l10n("nav.back"), ProblemCb(action=ApAction.view, id=row.id)),
    )
    return kb.as_markup()


def back_to_problem(order_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(button(l10n("admin.orders.abort"), ProblemCb(action=ApAction.view, id=order_id)))
    return kb.as_markup()
