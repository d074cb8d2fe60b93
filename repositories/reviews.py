"""Buyers' reviews of products: who may write one, writing it once, moderating, the rating, erasing texts.
Flushes, never commits."""

import functools
from datetime import datetime

from sqlalchemy import Select, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import ReviewStatus
from models.orders import Order, OrderItem
from models.shop import Product, Review, User
from repositories.base import insert_ignoring_conflict, page_of
from repositories.orders import goods_received


@functools.cache
def _rating() -> Select[tuple[int, int]]:
    """ReviewRepo.rating_of_product, with the parameter `product_id`; built once (repositories.base): every card
    shows the rating."""
    return select(func.count().label("count"), func.coalesce(func.sum(Review.stars), 0).label("stars")).where(
        Review.product_id == bindparam("product_id"), Review.status == ReviewStatus.approved
    )


class ReviewRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def entitling_order(self, user_id: int, product_id: int) -> int | None:
        """The newest order of this buyer that brought them the product (see goods_received); None if none did."""
        result = await self._s.execute(
            select(Order.id)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(Order.user_id == user_id, OrderItem.product_id == product_id, goods_received())
            .order_by(Order.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def reviewable(self, order_id: int, user_id: int) -> list[tuple[int, str]]:
        """(id, name) of the products of this buyer's received order that they have not reviewed yet."""
        reviewed = exists().where(Review.user_id == user_id, Review.product_id == Product.id)
        result = await self._s.execute(
            select(Product.id, Product.name)
            .join(OrderItem, OrderItem.product_id == Product.id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.id == order_id, Order.user_id == user_id, goods_received(), ~reviewed)
            .order_by(OrderItem.id)
        )
        return [(int(pid), str(name)) for pid, name in result.tuples()]

    async def written(self, user_id: int, product_id: int) -> bool:
        """Whether the buyer has reviewed the product (whatever became of the review)."""
        stmt = select(exists().where(Review.user_id == user_id, Review.product_id == product_id))
        return bool((await self._s.execute(stmt)).scalar_one())

    async def add(
        self, user_id: int, product_id: int, order_id: int, stars: int, text: str | None, at: datetime
    ) -> bool:
        """A pending review; False, adding nothing, when the buyer has reviewed the product already."""
        return await insert_ignoring_conflict(
            self._s,
            Review.__table__,  # type: ignore[arg-type]
            {
                "user_id": user_id,
                "product_id": product_id,
                "order_id": order_id,
                "stars": stars,
                "text": text,
                "status": ReviewStatus.pending,
                "created_at": at,
            },
            ["user_id", "product_id"],
        )

    @staticmethod
    def rating_of_product() -> Select[tuple[int, int]]:
        """(how many approved reviews, their stars added up) of the product `product_id` (a parameter): one row,
        which the card's statement joins (CatalogRepo.shelf)."""
        return _rating()

    @staticmethod
    def with_product_and_author() -> Select[tuple[Review, str, User]]:
        return (
            select(Review, Product.name, User)
            .join(Product, Product.id == Review.product_id)
            .join(User, User.id == Review.user_id)
        )

    async def page(self, status: ReviewStatus, page: int, size: int) -> tuple[list[tuple[Review, str, User]], bool]:
        """Reviews in this status with their product's name and author, newest first."""
        stmt = self.with_product_and_author().where(Review.status == status).order_by(Review.id.desc())
        return await page_of(self._s, stmt, page, size)

    async def get(self, review_id: int) -> tuple[Review, str, User] | None:
        """Fresh from the database, also when the session holds an older copy."""
        stmt = self.with_product_and_author().where(Review.id == review_id).execution_options(populate_existing=True)
        result = await self._s.execute(stmt)
        row = result.tuples().one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    async def moderate(self, review_id: int, status: ReviewStatus, at: datetime) -> bool:
        """Approve or hide; False, changing nothing, when the review is missing or already in that status."""
        result = await self._s.execute(
            update(Review).where(Review.id == review_id, Review.status != status).values(status=status, moderated_at=at)
        )
        return getattr(result, "rowcount", 0) == 1

    async def of_user(self, user_id: int) -> list[tuple[Review, str]]:
        """The buyer's reviews with their product's name, oldest first."""
        result = await self._s.execute(
            select(Review, Product.name)
            .join(Product, Product.id == Review.product_id)
            .where(Review.user_id == user_id)
            .order_by(Review.id)
        )
        return [(review, str(name)) for review, name in result.tuples()]

    async def erase_texts(self, user_id: int) -> int:
        """Remove the text of every review by this buyer (the stars stay); returns how many had one."""
        result = await self._s.execute(
            update(Review).where(Review.user_id == user_id, Review.text.is_not(None)).values(text=None)
        )
        return int(getattr(result, "rowcount", 0))
