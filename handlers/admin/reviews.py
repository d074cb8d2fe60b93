"""Admin: buyers' reviews, waiting, approved or hidden; approve or hide one. Buyers see only approved ones."""

from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import actor, rows
from handlers.callbacks import Id, Page
from handlers.keyboards import before_last_row, button, paged
from handlers.render import alert, show
from l10n import L10n
from models.enums import ReviewStatus
from services.admin.reviews import AdminReviewsService, AlreadyModerated, ReviewPage, ReviewRow
from services.dto import NamedItem
from services.shop.catalog import NotFound


class ArvAction(StrEnum):
    list = "l"
    view = "v"
    moderate = "m"


class AdminReviewCb(CallbackData, prefix="arv"):
    action: ArvAction
    status: ReviewStatus = ReviewStatus.pending  # the list's, or (moderate) the one to set
    id: Id = 0
    page: Page = 0


def _label(row: ReviewRow) -> str:
    return f"{'★' * row.stars} · {row.product[:32]} · {row.author}"


def listing(page: ReviewPage, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    status = l10n(f"admin.reviews.{page.status.value}")
    text = l10n("admin.reviews.title", status=status) if page.rows else l10n("admin.reviews.empty", status=status)
    markup = paged(
        [NamedItem(row.id, _label(row)) for row in page.rows],
        page.page,
        page.has_next,
        lambda i: AdminReviewCb(action=ArvAction.view, status=page.status, id=i),
        lambda p: AdminReviewCb(action=ArvAction.list, status=page.status, page=p),
        AdminCb(section=AdminSection.home),
        l10n,
    )
    tabs = [
        button(l10n(f"admin.reviews.{s.value}"), AdminReviewCb(action=ArvAction.list, status=s))
        for s in ReviewStatus
        if s is not page.status
    ]
    return text, before_last_row(markup, tabs)


def detail(row: ReviewRow, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    text = l10n(
        "admin.reviews.review",
        product=escape(row.product),
        stars="★" * row.stars + "☆" * (5 - row.stars),
        text=escape(row.text) if row.text else l10n("admin.reviews.no_text"),
        author=escape(row.author),
        telegram_id=row.author_telegram_id,
        date=row.written_at.strftime("%Y-%m-%d %H:%M"),
        status=l10n(f"admin.reviews.{row.status.value}"),
    )
    actions = [
        button(l10n(f"admin.reviews.set_{s.value}"), AdminReviewCb(action=ArvAction.moderate, status=s, id=row.id))
        for s in (ReviewStatus.approved, ReviewStatus.hidden)
        if s is not row.status
    ]
    back = button(l10n("nav.back"), AdminReviewCb(action=ArvAction.list, status=row.status))
    return text, rows(actions, [back])


async def open_section(query: CallbackQuery, admin_reviews: AdminReviewsService, l10n: L10n) -> None:
    await show(query, *listing(await admin_reviews.page(ReviewStatus.pending, 0), l10n))


async def list_page(
    query: CallbackQuery, callback_data: AdminReviewCb, admin_reviews: AdminReviewsService, l10n: L10n
) -> None:
    await show(query, *listing(await admin_reviews.page(callback_data.status, max(callback_data.page, 0)), l10n))


async def view(
    query: CallbackQuery,
    callback_data: AdminReviewCb,
    admin_reviews: AdminReviewsService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await show(query, *detail(await admin_reviews.review(callback_data.id), l10n))
    except NotFound:
        alert(callback_answer, l10n("admin.reviews.gone"))
        await open_section(query, admin_reviews, l10n)


async def moderate(
    query: CallbackQuery,
    callback_data: AdminReviewCb,
    admin_reviews: AdminReviewsService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        row = await admin_reviews.moderate(actor(query), callback_data.id, callback_data.status)
    except NotFound:
        alert(callback_answer, l10n("admin.reviews.gone"))
        await open_section(query, admin_reviews, l10n)
        return
    except AlreadyModerated:
        alert(callback_answer, l10n("admin.reviews.already"))
        row = await admin_reviews.review(callback_data.id)
    else:
        callback_answer.text = l10n(f"admin.reviews.done_{callback_data.status.value}")
    await show(query, *detail(row, l10n))


def build() -> Router:
    router = Router(name="admin-reviews")
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.reviews))
    router.callback_query.register(list_page, AdminReviewCb.filter(F.action == ArvAction.list))
    router.callback_query.register(view, AdminReviewCb.filter(F.action == ArvAction.view))
    router.callback_query.register(
        moderate, AdminReviewCb.filter((F.action == ArvAction.moderate) & (F.status != ReviewStatus.pending))
    )
    return router
