"""Importing a checked catalog file in one transaction (all or nothing), and exporting the catalog.

See services.catalog_io.format for the format and its rules, and README.md, "Catalog import and export".
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import ProductKind, StockStatus
from models.shop import Product, Variant, WithMedia
from models.types import utcnow
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo
from services.catalog_io.format import CatalogErrors, ProductSpec, VariantSpec, parse_catalog
from services.dto import Media
from services.money import from_minor
from services.shop.catalog import media_of
from services.wallet.goods import GoodsCipher, GoodsKeyMissing

KEY_MISSING = "GOODS_KEY or WALLET_KEY: set one; digital payloads are stored encrypted with it"


@dataclass(slots=True)
class ImportSummary:
    """What one import did. Importing the same file again gives zero created, updated and added."""

    categories: int = 0  # in the file
    categories_created: int = 0
    categories_updated: int = 0  # existing ones given another picture
    subcategories: int = 0
    subcategories_created: int = 0
    products_created: int = 0
    products_updated: int = 0  # description, kind, picture or a variant (added, priced) changed
    products_unchanged: int = 0
    units_added: int = 0
    units_skipped: int = 0  # digital payloads already stored, physical units already available
    skipped_payloads: list[tuple[str, int]] = field(default_factory=list)  # ("Cat / Sub / Product", count)


class CatalogImporter:
    def __init__(self, session: AsyncSession, cipher: GoodsCipher | None) -> None:
        self._session = session
        self._cipher = cipher

    async def import_catalog(self, data: object) -> ImportSummary:
        """Apply a decoded catalog file (see load_catalog_json) in one transaction. Additive and idempotent.

        Creates missing categories, subcategories and products, matched by name within their parent, and
        missing variants, matched by name within their product (a plain product's unnamed variant takes the
        first variant's name when the file gives the product variants, as in the admin panel); sets existing
        products' kind, warranty and per-buyer limit (absent: none) and (when given) description and picture,
        existing variants' price (a retired variant named in the file is offered again), and existing categories'
        picture (when given); adds digital stock entries whose payload the product does not hold yet (by keyed
        digest, whatever the unit's status or variant); tops physical variants up to `quantity` available units.
        Never deletes, deactivates or removes units. Raises CatalogErrors with every problem, then nothing is
        changed: first those of the file alone, else those against the database (a product with unsold units
        cannot change kind; a product with named variants cannot be given as a plain one). Raises
        GoodsKeyMissing when the file has digital stock and no cipher was given.
        """
        catalog, problems = parse_catalog(data)
        if problems:
            raise CatalogErrors(problems)
        if self._cipher is None and any(v.stock for p in catalog.products for v in p.variants):
            raise GoodsKeyMissing(KEY_MISSING)
        summary = ImportSummary(categories=len(catalog.categories), subcategories=len(catalog.subcategories))
        conflicts: list[str] = []
        async with self._session.begin():
            repo, stock, variants = CatalogRepo(self._session), StockRepo(self._session), VariantRepo(self._session)
            await repo.lock_for_import()
            categories, subcategories, products = await repo.tree()
            by_name = {c.name: c for c in categories}
            category_ids = {c.name: c.id for c in categories}
            subcategory_ids = {(s.category_id, s.name): s.id for s in subcategories}
            rows = {(p.subcategory_id, p.name): p for p in products}
            counts = await stock.all_unit_counts()
            variant_counts = await stock.variant_unit_counts()
            offered = await variants.of_products([p.id for p in products], active_only=False)
            for name in catalog.categories:
                if name not in category_ids:
                    by_name[name] = await repo.add_category(name)
                    category_ids[name] = by_name[name].id
                    summary.categories_created += 1
                    _set_media(by_name[name], catalog.category_media.get(name))
                elif _set_media(by_name[name], catalog.category_media.get(name)):
                    summary.categories_updated += 1
            for category, name in catalog.subcategories:
                if (key := (category_ids[category], name)) not in subcategory_ids:
                    subcategory_ids[key] = (await repo.add_subcategory(key[0], name)).id
                    summary.subcategories_created += 1
            now = utcnow()
            for spec in catalog.products:
                sub_id = subcategory_ids[(category_ids[spec.category], spec.subcategory)]
                product = rows.get((sub_id, spec.name))
                if product is not None and (conflict := _kind_conflict(spec, product, counts)):
                    conflicts.append(conflict)
                    continue
                if product is not None and (conflict := _variant_conflict(spec, offered[product.id])):
                    conflicts.append(conflict)
                    continue
                created = product is None
                if product is None:
                    first = spec.variants[0]
                    product = await repo.add_product(
                        sub_id, spec.name, spec.description or "", first.price_minor, spec.kind
                    )
                    _set_media(product, spec.media)
                    _set_terms(product, spec)
                    offered[product.id] = await variants.of_product(product.id)
                changed = _update(product, spec)
                skipped = 0
                for variant_spec in spec.variants:
                    variant, variant_changed = await _variant(variants, product.id, offered[product.id], variant_spec)
                    changed |= variant_changed
                    available = variant_counts.get((variant.id, StockStatus.available), 0)
                    added, skipped_here = await self._add_stock(stock, variant, spec.kind, variant_spec, available, now)
                    summary.units_added += added
                    skipped += skipped_here
                summary.units_skipped += skipped
                if created:
                    summary.products_created += 1
                elif changed:
                    summary.products_updated += 1
                else:
                    summary.products_unchanged += 1
                if skipped and spec.kind is ProductKind.digital:
                    summary.skipped_payloads.append((f"{spec.category} / {spec.subcategory} / {spec.name}", skipped))
            if conflicts:
                raise CatalogErrors(conflicts)  # inside the transaction: rolls back what was written so far
        return summary

    async def _add_stock(
        self, repo: StockRepo, variant: Variant, kind: ProductKind, spec: VariantSpec, available: int, now: datetime
    ) -> tuple[int, int]:
        """(units added to the variant, units skipped as already there)."""
        product_id = variant.product_id
        if kind is ProductKind.physical:
            missing = max(0, spec.quantity - available)
            await repo.add_units(product_id, variant.id, [None] * missing, now)
            return missing, spec.quantity - missing
        if not spec.stock:
            return 0, 0
        assert self._cipher is not None  # checked before the transaction began
        known = await repo.payload_digests(product_id)
        fresh = [(p, d) for p in spec.stock if (d := self._cipher.digest(p)) not in known]
        await repo.add_units(product_id, variant.id, [(self._cipher.seal(p, product_id), d) for p, d in fresh], now)
        return len(fresh), len(spec.stock) - len(fresh)


def _kind_conflict(spec: ProductSpec, product: Product, counts: dict[tuple[int, StockStatus], int]) -> str | None:
    units = {status: counts.get((product.id, status), 0) for status in StockStatus}
    problem = kind_change_problem(product.kind, spec.kind, units)
    return None if problem is None else f"{spec.path}.kind: {problem}"


def kind_change_problem(current: ProductKind, new: ProductKind, units: dict[StockStatus, int]) -> str | None:
    """Why a product with these units (per status) may not change from `current` to `new`, or None. A product
    holding unsold units keeps its kind: a key cannot be shipped, nor a parcel sent as text. Sold units of a
    file product are documents and those of other kinds are not, so a product with sold units cannot become a
    file product or stop being one: its buyers still open what they bought."""
    unsold = units[StockStatus.available] + units[StockStatus.reserved]
    if current is new:
        return None
    if unsold:
        return f"the {current} product has {unsold} unsold units, so it cannot become {new}"
    if units[StockStatus.sold] and ProductKind.file in (current, new):
        return f"the {current} product has {units[StockStatus.sold]} sold units, so it cannot become {new}"
    return None


def _variant_conflict(spec: ProductSpec, variants: list[Variant]) -> str | None:
    """A product with named variants is not given as a plain one: which of them would its price and stock be?"""
    if spec.variants[0].name or not variants or all(not v.name for v in variants):
        return None
    names = ", ".join(repr(v.name) for v in variants if v.is_active)
    return f"{spec.path}: the product has variants ({names}); list them under variants"


async def _variant(
    repo: VariantRepo, product_id: int, variants: list[Variant], spec: VariantSpec
) -> tuple[Variant, bool]:
    """The product's variant the spec names, added or updated; True when that changed anything. `variants` (all
    of the product's, retired ones too) is kept up to date. A plain product's unnamed variant takes the name of
    the first variant the file gives it."""
    variant = next((v for v in variants if v.name == spec.name), None)
    if variant is None and spec.name and len(variants) == 1 and not variants[0].name:
        variant = variants[0]
    if variant is None:
        variant = await repo.add(product_id, spec.name, spec.price_minor)
        variants.append(variant)
        return variant, True
    if (variant.name, variant.price_minor, variant.is_active) == (spec.name, spec.price_minor, True):
        return variant, False
    variant.name, variant.price_minor, variant.is_active = spec.name, spec.price_minor, True
    return variant, True


def _update(product: Product, spec: ProductSpec) -> bool:
    """Set the product's own fields from the spec; True when anything changed."""
    description = product.description if spec.description is None else spec.description
    pictured = _set_media(product, spec.media)
    termed = _set_terms(product, spec)
    if (product.description, product.kind) == (description, spec.kind):
        return pictured or termed
    product.description, product.kind = description, spec.kind
    return True


def _set_terms(product: Product, spec: ProductSpec) -> bool:
    """Give the product the file's warranty and per-buyer limit (absent: none); True when that changed it."""
    terms = (spec.warranty_days, *((spec.limit.units, spec.limit.days) if spec.limit else (None, None)))
    if (product.warranty_days, product.limit_units, product.limit_days) == terms:
        return False
    product.warranty_days, product.limit_units, product.limit_days = terms
    return True


def _exported_terms(product: Product) -> dict[str, Any]:
    terms: dict[str, Any] = {} if product.warranty_days is None else {"warranty_days": product.warranty_days}
    if product.limit_units is not None:
        terms["limit"] = {"units": product.limit_units, "days": product.limit_days}
    return terms


def _set_media(row: WithMedia, media: Media | None) -> bool:
    """Give the row this picture (None: keep what it has); True when that changed it."""
    if media is None or media_of(row) == media:
        return False
    row.media_type, row.media_file_id, row.media_unique_id = media.type, media.file_id, media.unique_id
    return True


def _exported_media(row: WithMedia) -> dict[str, dict[str, str]]:
    media = media_of(row)
    if media is None:
        return {}
    return {"media": {"type": media.type.value, "file_id": media.file_id, "file_unique_id": media.unique_id}}


class CatalogExporter:
    def __init__(self, session: AsyncSession, cipher: GoodsCipher | None) -> None:
        self._session = session
        self._cipher = cipher

    async def export_catalog(self, with_payloads: bool = False) -> dict[str, Any]:
        """The whole catalog (inactive entries too) in the import format, in creation order. Read-only.

        Categories and products with a picture carry it as `media`. A plain product (one unnamed variant) carries
        its price and stock itself; any other lists its active `variants`, each with its name, price and stock.
        Each carries `available` (units neither reserved nor sold); physical ones also carry it as `quantity`,
        so importing the result into the same shop changes nothing. With `with_payloads`, digital
        products list the decrypted payloads of their available units as `stock`. Raises GoodsKeyMissing
        if payloads are asked for without a cipher, services.wallet.secretbox.DecryptionError under a wrong key.
        """
        if with_payloads and self._cipher is None:
            raise GoodsKeyMissing(KEY_MISSING)
        async with read_only(self._session):
            categories, subcategories, products = await CatalogRepo(self._session).tree()
            stock = StockRepo(self._session)
            counts = await stock.variant_unit_counts()
            sealed = await stock.available_payloads() if with_payloads else {}
            offered = await VariantRepo(self._session).of_products([p.id for p in products])

        def stock_of(product: Product, variant: Variant) -> dict[str, Any]:
            available = counts.get((variant.id, StockStatus.available), 0)
            item: dict[str, Any] = {}
            if product.kind is ProductKind.physical:
                item["quantity"] = available
            elif product.kind is ProductKind.digital and self._cipher is not None and with_payloads:
                item["stock"] = [self._cipher.open(blob, product.id) for blob in sealed.get(variant.id, [])]
            item["available"] = available
            return item

        by_subcategory: dict[int, list[dict[str, Any]]] = {}
        for p in products:
            variants = offered[p.id]
            item: dict[str, Any] = {"name": p.name, "description": p.description}
            if len(variants) == 1 and not variants[0].name:  # a plain product, as before variants
                price = str(from_minor(variants[0].price_minor))
                item.update(price=price, kind=p.kind.value, **_exported_terms(p), **_exported_media(p))
                item.update(stock_of(p, variants[0]))
            else:
                item.update(kind=p.kind.value, **_exported_terms(p), **_exported_media(p))
                item["variants"] = [
                    {"name": v.name, "price": str(from_minor(v.price_minor)), **stock_of(p, v)} for v in variants
                ]
            by_subcategory.setdefault(p.subcategory_id, []).append(item)
        by_category: dict[int, list[dict[str, Any]]] = {}
        for s in subcategories:
            by_category.setdefault(s.category_id, []).append({"name": s.name, "products": by_subcategory.get(s.id, [])})
        return {
            "categories": [
                {"name": c.name, **_exported_media(c), "subcategories": by_category.get(c.id, [])} for c in categories
            ]
        }
