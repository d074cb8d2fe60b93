"""Stock from the admin panel: adding digital payloads (pasted or uploaded) after a preview, and physical
units; removing chosen digital units after a preview, setting a physical product's available count, emptying the
shelf (`python -m bot catalog empty-stock`), and checking every variant's available-units counter against its
units (`python -m bot stock check`).

Units are stored as a catalog import stores them (repositories.stock.StockRepo under the catalog
import lock): payloads sealed with GoodsCipher, and a payload the product already holds, in any status, is
skipped by its keyed digest. Units are removed only while available: held (reserved) and sold ones stay,
whatever the admin sends. Payloads are never logged or audited.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import ProductKind, StockStatus
from models.shop import Product
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo
from services.catalog_io.format import MAX_QUANTITY
from services.catalog_io.importer import KEY_MISSING
from services.catalog_io.stock_files import StockFileErrors, StockLine, check_payloads, read_stock
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsCipher, GoodsKeyMissing
from services.wallet.secretbox import DecryptionError

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")  # GoodsCipher.digest: anything else in a preview is not ours


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


@dataclass(frozen=True, slots=True)
class Removal:
    """Payloads sent for removal, matched against one digital product's units by their keyed digests."""

    product_id: int
    removed: int  # available units: removed (in a preview, those that would be)
    kept: int  # held or sold units: they stay
    missing: int  # the product has no unit with that payload (another product's, or never added)
    available: int  # units on the shelf afterwards (in a preview, now)
    digests: str = ""  # a preview's keyed digests, space-separated: hand back to remove_digital


@dataclass(frozen=True, slots=True)
class StockCount:
    product_id: int
    added: int
    removed: int
    available: int  # units on the shelf now


@dataclass(frozen=True, slots=True)
class Emptied:
    """One product's shelf emptied by empty_stock."""

    product_id: int
    path: str  # "Category / Subcategory / Product"
    removed: int
    kept: int  # held or sold: left as they were


@dataclass(frozen=True, slots=True)
class Miscount:
    """A variant whose counter (Variant.available_units) is not the number of its available units."""

    variant_id: int
    product_id: int
    counter: int
    available: int  # its units with status available


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

    async def add_digital(self, actor: str, product_id: int, sealed: str, variant_id: int = 0) -> StockAdded:
        """Store the previewed payloads as available units of the product's variant `variant_id` (0: a plain
        product's only one), skipping those the product already holds, in any variant. Audited.

        All or nothing, in one transaction under the catalog import lock; confirming the same preview
        twice adds nothing the second time. Raises StockFileErrors (a damaged preview), GoodsKeyMissing,
        NotFound (also for a variant that is not one of the product's active ones) or WrongKind.
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
            variant = await self._variant(product_id, variant_id)
            known = await repo.payload_digests(product_id)
            fresh = [(payload, digest) for payload in payloads if (digest := cipher.digest(payload)) not in known]
            await repo.add_units(product_id, variant, [(cipher.seal(p, product_id), d) for p, d in fresh], utcnow())
            note = _variant_note(variant_id, variant)
            return await self._audit(actor, product_id, len(fresh), len(payloads) - len(fresh), variant, note)

    async def add_physical(self, actor: str, product_id: int, quantity: int, variant_id: int = 0) -> StockAdded:
        """Put `quantity` more units of a physical product's variant `variant_id` (0: a plain product's only one)
        on the shelf. Audited.

        Raises ValueError (not 1 to MAX_QUANTITY), NotFound (also for a variant that is not one of the
        product's active ones) or WrongKind. Not idempotent: each call adds.
        """
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ValueError(quantity)
        async with self._session.begin():
            repo = StockRepo(self._session)
            await CatalogRepo(self._session).lock_for_import()
            await self._product(product_id, *ProductKind.counted())
            variant = await self._variant(product_id, variant_id)
            await repo.add_units(product_id, variant, [None] * quantity, utcnow())
            return await self._audit(actor, product_id, quantity, 0, variant, _variant_note(variant_id, variant))

    async def preview_removal(self, product_id: int, raw: bytes, filename: str | None = None) -> Removal:
        """Match pasted text (`filename` None) or an uploaded file of payloads against a digital product's units.
        Read-only: counts what would be removed, kept (held or sold) and not found.

        Same formats and checks as adding stock. Raises StockFileErrors, GoodsKeyMissing, NotFound or WrongKind.
        """
        payloads = read_stock(raw, filename)
        cipher = self._cipher()
        async with read_only(self._session):
            repo = StockRepo(self._session)
            await self._product(product_id, ProductKind.digital)
            statuses = await repo.statuses_by_digest(product_id)
            available = (await repo.unit_counts(product_id))[StockStatus.available]
        digests = [cipher.digest(payload) for payload in payloads]
        removed, kept, missing = _match(digests, statuses)
        return Removal(product_id, len(removed), kept, missing, available, " ".join(digests))

    async def remove_digital(self, actor: str, product_id: int, digests: str) -> Removal:
        """Remove the product's available units whose payloads have these keyed digests (a preview's `digests`).
        Held and sold units stay, as do other products' units. Audited with the counts, never the payloads.

        One transaction under the catalog import lock; counts are taken again inside it, so they may differ
        from the preview's. Idempotent: confirming twice removes nothing more. Raises NotFound or WrongKind.
        """
        wanted = [d for d in digests.split() if _HEX_DIGEST.fullmatch(d)]
        async with self._session.begin():
            repo = StockRepo(self._session)
            await CatalogRepo(self._session).lock_for_import()
            await self._product(product_id, ProductKind.digital)
            removable, _, missing = _match(wanted, await repo.statuses_by_digest(product_id))
            removed = await repo.remove_available([product_id], removable)
            kept = len(wanted) - missing - removed  # a unit held by a checkout meanwhile stays, and counts here
            available = (await repo.unit_counts(product_id))[StockStatus.available]
            await AuditRepo(self._session).record(
                actor,
                "stock.remove",
                "product",
                product_id,
                before={"available": available + removed},
                after={"available": available, "removed": removed, "kept": kept, "missing": missing},
            )
        return Removal(product_id, removed, kept, missing, available)

    async def set_physical_count(self, actor: str, product_id: int, target: int, variant_id: int = 0) -> StockCount:
        """Make `target` units of a physical product's variant `variant_id` (0: a plain product's only one)
        available: add the shortfall or remove the surplus, newest units first. Held and sold units are not part
        of the count and are never removed. Audited.

        Idempotent: the same target again changes nothing (and writes no audit row). A unit a checkout takes
        meanwhile stays sold to it, so the count may end below `target`. Raises ValueError (not 0 to
        MAX_QUANTITY), NotFound or WrongKind.
        """
        if not 0 <= target <= MAX_QUANTITY:
            raise ValueError(target)
        async with self._session.begin():
            repo = StockRepo(self._session)
            await CatalogRepo(self._session).lock_for_import()
            await self._product(product_id, *ProductKind.counted())
            variant = await self._variant(product_id, variant_id)
            before = (await repo.available_of_variants([variant]))[variant] or 0  # counted kinds keep stock
            added = max(0, target - before)
            await repo.add_units(product_id, variant, [None] * added, utcnow())
            removed = await repo.remove_newest_available(variant, before - target) if target < before else 0
            if added or removed:
                await AuditRepo(self._session).record(
                    actor,
                    "stock.count",
                    "product",
                    product_id,
                    before={"available": before},
                    after={"available": before + added - removed, "added": added, "removed": removed}
                    | _variant_note(variant_id, variant),
                )
        return StockCount(product_id, added, removed, before + added - removed)

    async def empty_stock(self, actor: str, product_id: int | None = None) -> list[Emptied]:
        """Remove every available unit of every product, or of one: the step between exporting with payloads
        under the old goods key and importing under the new one. Held and sold units stay.

        One transaction under the catalog import lock, one audit row per product that lost units. Answers
        every product that has units, in creation order. Idempotent. Needs no goods key. Raises NotFound for an
        unknown `product_id`.
        """
        async with self._session.begin():
            catalog, repo = CatalogRepo(self._session), StockRepo(self._session)
            await catalog.lock_for_import()
            categories, subcategories, products = await catalog.tree()
            if product_id is not None and not any(p.id == product_id for p in products):
                raise NotFound
            names = {c.id: c.name for c in categories}
            parents = {s.id: f"{names[s.category_id]} / {s.name}" for s in subcategories}
            counts = await repo.all_unit_counts(None if product_id is None else [product_id])
            stocked = {pid for pid, _ in counts}
            emptied: list[Emptied] = []
            for p in (p for p in products if p.id in stocked):
                available = counts.get((p.id, StockStatus.available), 0)
                kept = counts.get((p.id, StockStatus.reserved), 0) + counts.get((p.id, StockStatus.sold), 0)
                removed = await repo.remove_available([p.id]) if available else 0
                if removed:
                    await AuditRepo(self._session).record(
                        actor,
                        "stock.empty",
                        "product",
                        p.id,
                        before={"available": available},
                        after={"available": available - removed, "removed": removed, "kept": kept},
                    )
                emptied.append(Emptied(p.id, f"{parents[p.subcategory_id]} / {p.name}", removed, kept))
        return emptied

    async def miscounts(self) -> list[Miscount]:
        """Every variant whose available-units counter differs from its available units, by variant id; empty
        when every counter is right (repositories.stock keeps them so). Read-only; needs no goods key."""
        async with read_only(self._session):
            return [Miscount(*row) for row in await StockRepo(self._session).miscounted()]

    def _cipher(self) -> GoodsCipher:
        if self._goods is None:
            raise GoodsKeyMissing(KEY_MISSING)
        return self._goods

    async def _product(self, product_id: int, *kinds: ProductKind) -> Product:
        product = await CatalogRepo(self._session).get(Product, product_id)
        if not isinstance(product, Product):
            raise NotFound
        if product.kind not in kinds:
            raise WrongKind
        return product

    async def _variant(self, product_id: int, variant_id: int) -> int:
        """The id of the product's active variant `variant_id` (0: its only one). Raises NotFound."""
        variant = await VariantRepo(self._session).chosen(product_id, variant_id)
        if variant is None:
            raise NotFound
        return variant.id

    async def _audit(
        self, actor: str, product_id: int, added: int, skipped: int, variant_id: int, note: dict[str, int]
    ) -> StockAdded:
        """The audit row of stock added to one variant; the available count is the variant's."""
        available = (await StockRepo(self._session).available_of_variants([variant_id]))[variant_id] or 0
        await AuditRepo(self._session).record(
            actor,
            "stock.add",
            "product",
            product_id,
            before={"available": available - added},
            after={"available": available, "added": added, "skipped": skipped} | note,
        )
        return StockAdded(product_id, added, skipped, available)


def _variant_note(asked: int, variant_id: int) -> dict[str, int]:
    """The variant an audit row's stock change was for, when the admin chose one of several."""
    return {"variant_id": variant_id} if asked else {}


def _match(digests: list[str], statuses: dict[str, StockStatus]) -> tuple[list[str], int, int]:
    """(the digests of available units, how many are held or sold, how many the product does not have)."""
    removable = [d for d in digests if statuses.get(d) is StockStatus.available]
    missing = sum(1 for d in digests if d not in statuses)
    return removable, len(digests) - len(removable) - missing, missing
