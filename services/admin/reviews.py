"""The admin's reviews screen: reviews waiting, approved or hidden, and approving or hiding one. Only approved
reviews are shown to buyers and counted in a product's rating."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import ReviewStatus
from models.shop import Review, User
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.reviews import ReviewRepo
from services.shop.catalog import NotFound

PAGE_SIZE = 8


@dataclass(frozen=True, slots=True)
class ReviewRow:
    id: int
    product: str
    stars: int
    text: str | None
    status: ReviewStatus
    author: str  # @username, else the Telegram id
    author_telegram_id: int
    written_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewPage:
    status: ReviewStatus
    rows: list[ReviewRow]
    page: int
    has_next: bool


class AlreadyModerated(Exception):
    """The review is in that status already (pressed twice, or another admin)."""


def _row(review: Review, product: str, user: User) -> ReviewRow:
    author = f"@{user.username}" if user.username else str(user.telegram_id)
    return ReviewRow(
        review.id, product, review.stars, review.text, review.status, author, user.telegram_id, review.created_at
    )


class AdminReviewsService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def page(self, status: ReviewStatus, page: int) -> ReviewPage:
        """Reviews in this status, newest first. Read-only."""
        async with read_only(self._session):
            rows, more = await ReviewRepo(self._session).page(status, page, PAGE_SIZE)
        return ReviewPage(status, [_row(*row) for row in rows], page, more)

    async def review(self, review_id: int) -> ReviewRow:
        """Read-only. Raises NotFound."""
        async with read_only(self._session):
            found = await ReviewRepo(self._session).get(review_id)
        if found is None:
            raise NotFound
        return _row(*found)

    async def moderate(self, actor: str, review_id: int, status: ReviewStatus) -> ReviewRow:
        """Approve (buyers see it, the rating counts it) or hide a review; returns it as it is now. One
        conditional update with its audit row. Raises NotFound, or AlreadyModerated when it is in that status
        already (nothing changes then). Moving it back to pending is not offered."""
        if status is ReviewStatus.pending:
            raise ValueError(status)
        async with self._session.begin():
            repo = ReviewRepo(self._session)
            found = await repo.get(review_id)
            if found is None:
                raise NotFound
            before = found[0].status
            if not await repo.moderate(review_id, status, utcnow()):
                raise AlreadyModerated
            await AuditRepo(self._session).record(
                actor,
                f"review.{status.value}",
                "review",
                review_id,
                before={"status": before.value},
                after={"status": status.value},
            )
        return await self.review(review_id)
