"""What a file or unlimited product delivers, from the admin panel: a document the admin sends in Telegram
becomes one unit of a file product, or the one payload of an unlimited product; a text becomes an unlimited
product's payload.

Documents are checked against what Telegram says about them before anything is downloaded (the handler
downloads with getFile only what passes), then stored **sealed, as bytes** (GoodsCipher.seal_file): a
Telegram file_id works only for the bot that received the file, so bytes survive a new bot token, a new bot
and a backup restored elsewhere, as the goods' texts do. Payloads are never logged or audited.
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import ProductKind
from models.shop import Product
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from repositories.payloads import ProductPayloadRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo
from services.admin.stock import WrongKind
from services.catalog_io.format import MAX_TEXT
from services.catalog_io.importer import KEY_MISSING
from services.dto import GoodsFile
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsCipher, GoodsKeyMissing

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # the Bot API's getFile downloads files up to 20 MB, no larger
MAX_FILE_NAME = 255


class PayloadRefused(Exception):
    """What the admin sent cannot be a payload; `key` is the l10n string that says why, `params` fill it in."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class PayloadStored:
    product_id: int
    kind: ProductKind
    added: bool  # a file product's new unit (False: it already holds this document), or the payload set
    available: int | None  # a file product's variant's units on the shelf now; None for an unlimited product
    variant_id: int = 0  # the file product's variant the document went to


def checked_document(file_name: str | None, size: int | None) -> str:
    """The name to deliver a document under, from what Telegram says about it, before it is downloaded.
    Raises PayloadRefused: too large for getFile (or of unknown size), or empty."""
    if size is None or size > MAX_DOCUMENT_BYTES:
        raise PayloadRefused("admin.payload.too_large", limit=MAX_DOCUMENT_BYTES // (1024 * 1024))
    if size == 0:
        raise PayloadRefused("admin.payload.empty")
    name = (file_name or "").strip().replace("/", "_")[:MAX_FILE_NAME]
    return name or "file"


def checked_text(text: str) -> str:
    """An unlimited product's text payload. Raises PayloadRefused for an empty or too long one."""
    payload = text.strip()
    if not payload or len(payload) > MAX_TEXT:
        raise PayloadRefused("admin.payload.bad_text", limit=MAX_TEXT)
    return payload


class AdminPayloadService:
    def __init__(self, session: AsyncSession, goods: GoodsCipher | None) -> None:
        self._session = session
        self._goods = goods

    async def add_document(
        self, actor: str, product_id: int, document: GoodsFile, variant_id: int = 0
    ) -> PayloadStored:
        """A file product: the document becomes one available unit of its variant `variant_id` (0: its only one),
        unless the product already holds the same bytes (in any status; by keyed digest). An unlimited product:
        the document replaces its payload, which all its variants deliver. One transaction under the catalog
        import lock, audited (never the document). Raises GoodsKeyMissing, NotFound (also for a variant the
        product does not have), or WrongKind (a product of another kind)."""
        cipher = self._cipher()
        async with self._session.begin():
            await CatalogRepo(self._session).lock_for_import()
            product = await self._product(product_id, ProductKind.file, ProductKind.unlimited)
            if product.kind is ProductKind.unlimited:
                await ProductPayloadRepo(self._session).put(
                    product_id, cipher.seal_file(document, product_id), True, utcnow()
                )
                return await self._audit(actor, product, "payload.set", {"document": True})
            variant = await VariantRepo(self._session).chosen(product_id, variant_id)
            if variant is None:
                raise NotFound
            stock = StockRepo(self._session)
            digest = cipher.digest(document.data)
            added = digest not in await stock.payload_digests(product_id)
            if added:
                sealed = cipher.seal_file(document, product_id)
                await stock.add_units(product_id, variant.id, [(sealed, digest)], utcnow())
            after: dict[str, object] = {"added": int(added), "skipped": int(not added)}
            if variant_id:  # the admin chose one of several
                after["variant_id"] = variant.id
            return await self._audit(actor, product, "stock.add", after, variant.id)

    async def set_text(self, actor: str, product_id: int, text: str) -> PayloadStored:
        """An unlimited product's payload becomes this text (checked_text), replacing what it had. Audited (not
        the text). Raises PayloadRefused, GoodsKeyMissing, NotFound or WrongKind."""
        payload = checked_text(text)
        cipher = self._cipher()
        async with self._session.begin():
            product = await self._product(product_id, ProductKind.unlimited)
            await ProductPayloadRepo(self._session).put(product_id, cipher.seal(payload, product_id), False, utcnow())
            return await self._audit(actor, product, "payload.set", {"document": False})

    def _cipher(self) -> GoodsCipher:
        if self._goods is None:
            raise GoodsKeyMissing(KEY_MISSING)
        return self._goods

    async def _product(self, product_id: int, *kinds: ProductKind) -> Product:
        product = await CatalogRepo(self._session).get(Product, product_id, lock=True)
        if not isinstance(product, Product):
            raise NotFound
        if product.kind not in kinds:
            raise WrongKind
        return product

    async def _audit(
        self, actor: str, product: Product, action: str, after: dict[str, object], variant_id: int = 0
    ) -> PayloadStored:
        """The audit row; a file product's available count is the variant's the document went to."""
        available = None
        if product.kind is ProductKind.file:
            available = (await StockRepo(self._session).available_of_variants([variant_id]))[variant_id]
            after = {**after, "available": available}
        await AuditRepo(self._session).record(actor, action, "product", product.id, after=after)
        return PayloadStored(product.id, product.kind, bool(after.get("added", True)), available, variant_id)
