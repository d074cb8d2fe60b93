"""A buyer's review of a product they received: 1 to 5 stars and an optional short text, one per product.

Reviews wait for an admin (services.admin.reviews); only approved ones are shown and counted on the card.
Whether the buyer received the product is decided here, from their orders, whatever a button claims.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.types import utcnow
from repositories.catalog import CatalogRepo
from repositories.reviews import ReviewRepo
from services.dto import NamedItem

MAX_REVIEW_TEXT = 500  # characters
STARS = range(1, 6)


class NotReceived(Exception):
    """The buyer has no order that brought them this product (or there is no such product)."""


class AlreadyReviewed(Exception):
    """The buyer has reviewed this product before; a review is written once."""


class ReviewTooLong(Exception):
    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


class ReviewService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reviewable(self, user_id: int, product_id: int) -> NamedItem:
        """The product, when the buyer may review it now. Read-only. Raises NotReceived or AlreadyReviewed."""
        async with read_only(self._session):
            reviews = ReviewRepo(self._session)
            product = await CatalogRepo(self._session).product(product_id)
            if product is None or await reviews.entitling_order(user_id, product_id) is None:
                raise NotReceived
            if await reviews.written(user_id, product_id):
                raise AlreadyReviewed
        return NamedItem(product.id, product.name)

    async def submit(self, user_id: int, product_id: int, stars: int, text: str | None) -> None:
        """Store the buyer's review as pending (admins approve it before anyone sees it).

        `text` is stripped; blank means none. Raises ValueError for stars outside 1–5, ReviewTooLong for a text
        over MAX_REVIEW_TEXT characters, NotReceived when no order of the buyer brought them the product, and
        AlreadyReviewed when they reviewed it before: submitting twice stores one review.
        """
        if stars not in STARS:
            raise ValueError(stars)
        text = (text or "").strip() or None
        if text is not None and len(text) > MAX_REVIEW_TEXT:
            raise ReviewTooLong(len(text))
        async with self._session.begin():
            reviews = ReviewRepo(self._session)
            order_id = await reviews.entitling_order(user_id, product_id)
            if order_id is None:
                raise NotReceived
            if not await reviews.add(user_id, product_id, order_id, stars, text, utcnow()):
                raise AlreadyReviewed
