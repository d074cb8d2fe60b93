"""The one sealed payload of each unlimited product (models.shop.ProductPayload). Flushes, never commits."""

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import ProductKind
from models.orders import OrderItem
from models.shop import Product, ProductPayload


class ProductPayloadRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, product_id: int) -> ProductPayload | None:
        return await self._s.get(ProductPayload, product_id, populate_existing=True)

    async def put(self, product_id: int, sealed: bytes, is_file: bool, at: datetime) -> None:
        """Set the product's payload, replacing any it had."""
        await self._s.execute(delete(ProductPayload).where(ProductPayload.product_id == product_id))
        await self._s.execute(
            insert(ProductPayload).values(product_id=product_id, payload_enc=sealed, is_file=is_file, updated_at=at)
        )

    async def has_payload(self, product_ids: list[int]) -> set[int]:
        """Which of these products have a payload."""
        result = await self._s.execute(
            select(ProductPayload.product_id).where(ProductPayload.product_id.in_(product_ids))
        )
        return {int(pid) for pid in result.scalars()}

    async def of_order(self, order_id: int) -> list[tuple[int, bool, bytes]]:
        """(product id, is a document, sealed payload) of each unlimited product the order holds, in item order:
        every buyer of the product gets this one payload, as it is now."""
        result = await self._s.execute(
            select(ProductPayload.product_id, ProductPayload.is_file, ProductPayload.payload_enc)
            .join(OrderItem, OrderItem.product_id == ProductPayload.product_id)
            .join(Product, Product.id == ProductPayload.product_id)
            .where(OrderItem.order_id == order_id, Product.kind == ProductKind.unlimited)
            .order_by(OrderItem.id)
        )
        return [(int(pid), bool(is_file), bytes(blob)) for pid, is_file, blob in result.tuples()]
