"""Adding stock from the admin panel: digital payloads (pasted or uploaded) after a preview, physical units.

Units are stored as a catalog import stores them (repositories.stock.StockRepo under the catalog
import lock): payloads sealed with GoodsCipher, and a payload the product already holds, in any status, is
skipped by its keyed digest. Payloads are never logged or audited.
"""

import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import ProductKind, StockStatus
from models.shop import Product
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from services.catalog_io.format import MAX_QUANTITY
from services.catalog_io.importer import KEY_MISSING
from services.catalog_io.stock_files import StockFileErrors, StockLine, check_payloads, read_stock
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsCipher, GoodsKeyMissing
from services.wallet.secretbox import DecryptionError


class WrongKind(Exception):
    """Digital stock for a physical product, or a quantity for a digital one."""


@dataclass(frozen=True, slots=True)
class StockPreview:
    product_id: int
    count: int  # units in what was sent
    new: int  # of them, not yet stored for the product
    sealed: str  # the checked payloads, sealed with the goods key: hand back to add_digital


@dataclass(frozen=True, slots=True)
class StockAdded:
    product_id: int
    added: int
    skipped: int  # payloads the product already held
    available: int  # units on the shelf now


class AdminStockService:
    def __init__(self, session: AsyncSession, goods: GoodsCipher | None) -> None:
        self._session = session
        self._goods = goods

    async def preview_digital(self, product_id: int, raw: bytes, filename: str | None = None) -> StockPreview:
        """Check pasted text (`filename` None) or an uploaded file of payloads for a digital product. Read-only.

        Raises StockFileErrors (every bad line; see services.catalog_io.stock_files.read_stock), GoodsKeyMissing,
        NotFound or WrongKind.
        """
        payloads = read_stock(raw, filename)
        cipher = self._cipher()
        async with self._session.begin():
            await self._product(product_id, ProductKind.digital)
            known = await StockRepo(self._session).payload_digests(product_id)
        new = sum(1 for payload in payloads if cipher.digest(payload) not in known)
        sealed = base64.b64encode(cipher.seal_preview(json.dumps(payloads, ensure_ascii=False), product_id)).decode()
        return StockPreview(product_id, len(payloads), new, sealed)

    async def add_digital(self, actor: str, product_id: int, sealed: str) -> StockAdded:
        """Store the previewed payloads as available units, skipping those the product already holds. Audited.

        All or nothing, in one transaction under the catalog import lock; confirming the same preview
        twice adds nothing the second time. Raises StockFileErrors (a damaged preview), GoodsKeyMissing,
        NotFound or WrongKind.
        """
        cipher = self._cipher()
        try:
            items = json.loads(cipher.open_preview(base64.b64decode(sealed, validate=True), product_id))
        except (binascii.Error, DecryptionError, ValueError):
            raise StockFileErrors(["the preview is damaged; send the stock again"]) from None
        payloads = check_payloads([StockLine(n, item) for n, item in enumerate(items, 1)])
        async with self._session.begin():
            repo = StockRepo(self._session)
            await CatalogRepo(self._session).lock_for_import()
            await self._product(product_id, ProductKind.digital)
            known = await repo.payload_digests(product_id)
            fresh = [(payload, digest) for payload in payloads if (digest := cipher.digest(payload)) not in known]
            await repo.add_units(product_id, [(cipher.seal(p, product_id), d) for p, d in fresh], utcnow())
            return await self._audit(actor, product_id, len(fresh), len(payloads) - len(fresh))

    async def add_physical(self, actor: str, product_id: int, quantity: int) -> StockAdded:
        """Put `quantity` more units of a physical product on the shelf. Audited.

        Raises ValueError (not 1 to MAX_QUANTITY), NotFound or WrongKind. Not idempotent: each call adds.
        """
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ValueError(quantity)
        async with self._session.begin():
            repo = StockRepo(self._session)
            await CatalogRepo(self._session).lock_for_import()
            await self._product(product_id, ProductKind.physical)
            await repo.add_units(product_id, [None] * quantity, utcnow())
            return await self._audit(actor, product_id, quantity, 0)

    def _cipher(self) -> GoodsCipher:
        if self._goods is None:
            raise GoodsKeyMissing(KEY_MISSING)
        return self._goods

    async def _product(self, product_id: int, kind: ProductKind) -> Product:
        product = await CatalogRepo(self._session).get(Product, product_id)
        if not isinstance(product, Product):
            raise NotFound
        if product.kind is not kind:
            raise WrongKind
        return product

    async def _audit(self, actor: str, product_id: int, added: int, skipped: int) -> StockAdded:
        available = (await StockRepo(self._session).unit_counts(product_id))[StockStatus.available]
        await AuditRepo(self._session).record(
            actor,
            "stock.add",
            "product",
            product_id,
            before={"available": available - added},
            after={"available": available, "added": added, "skipped": skipped},
        )
        return StockAdded(product_id, added, skipped, available)
