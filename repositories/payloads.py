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

    async def put(self, product_id: int, sealed: bytes, is_file: bool, at: datetime) -> None:
        """Set the product's payload, replacing any it had."""
        await self._s.execute(delete(ProductPayload).where(ProductPayload.product_id == product_id))
        await self._s.execute(
            insert(ProductPayload).values(product_id=product_id, payload_enc=sealed, is_file=is_file, updated_at=at)
        )

    async def is_file(self, product_id: int) -> bool | None:
        """Whether the product's payload is a document (False: a text); None when it has none. Loads no payload."""
        result = await self._s.execute(select(ProductPayload.is_file).where(ProductPayload.product_id == product_id))
        return result.scalar_one_or_none()

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
