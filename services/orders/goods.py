"""What a sold order delivers, in one place for the delivery message and the buyer's order view: the
payloads of its sold units (text, or a file product's documents) and the one payload of each unlimited
product it holds. Goods are opened only here."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from repositories.payloads import ProductPayloadRepo
from repositories.stock import StockRepo
from services.dto import GoodsFile
from services.wallet.goods import GoodsCipher

Sealed = tuple[int, bool, bytes]  # (product id, is a document, sealed payload)


@dataclass(frozen=True, slots=True)
class OrderGoods:
    texts: list[str] = field(default_factory=list, repr=False)
    files: list[GoodsFile] = field(default_factory=list, repr=False)


async def sealed_goods(session: AsyncSession, order_id: int) -> list[Sealed]:
    """The order's goods, still sealed: its sold units, then its unlimited products' payloads. Call it only for
    a sold order (OrderStatus.sold()): an unlimited product's payload belongs to whoever has paid for it."""
    return [*await StockRepo(session).sold_payloads(order_id), *await ProductPayloadRepo(session).of_order(order_id)]


def open_goods(cipher: GoodsCipher, sealed: Sequence[Sealed]) -> OrderGoods:
    """Raises services.wallet.secretbox.DecryptionError for goods sealed under another key (or damaged)."""
    goods = OrderGoods()
    for product_id, is_file, blob in sealed:
        if is_file:
            goods.files.append(cipher.open_file(blob, product_id))
        else:
            goods.texts.append(cipher.open(blob, product_id))
    return goods
