"""A product's variants in the admin panel: add, rename, reprice (and the reseller price), delete.

A product always keeps at least one variant. A plain product's only variant is unnamed; adding a variant to it
names that one first (it keeps its stock), so "Editor Pro" with 7 keys becomes "Editor Pro · 1 month" with 7
keys, and the next variant added is the second. Names and prices are checked by the catalog import's own checker.
Every change is one transaction with its audit row (actor "admin:<telegram id>", before and after).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.shop import Product, Variant
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo
from services.admin.dto import VariantAdmin
from services.admin.inventory import (
    InventoryRefused,
    NameTaken,
    checked_price,
    checked_variant_name,
    set_fields,
    variant_views,
)
from services.shop.catalog import NotFound


class LastVariant(Exception):
    """A product keeps at least one variant: delete or hide the product instead."""


@dataclass(frozen=True, slots=True)
class VariantRemoved:
    product_id: int
    deleted: bool  # False: units of it were held or sold, so it was retired (kept for them, never offered again)


def split_name_and_price(text: str) -> tuple[str, str]:
    """ "12 months 49.90" → ("12 months", "49.90"): the price is the last word. Raises InventoryRefused."""
    name, _, price = text.strip().rpartition(" ")
    if not name.strip():
        raise InventoryRefused("send the name and the price on one line, the price last")
    return checked_variant_name(name), price


class AdminVariantService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def variant(self, variant_id: int) -> VariantAdmin:
        """An active variant with its units per status. Read-only. Raises NotFound (also for a retired one)."""
        async with read_only(self._session):
            variant = await VariantRepo(self._session).get(variant_id)
            if variant is None or not variant.is_active:
                raise NotFound
            views = await variant_views(self._session, variant.product_id)
        return next(v for v in views if v.id == variant_id)

    async def add(self, actor: str, product_id: int, text: str) -> int:
        """A variant from "name price" (the price last); returns its id. A plain product's unnamed variant takes
        the name and price instead (keeping its stock); a retired variant of that name is offered again. Raises
        InventoryRefused, NameTaken (an active variant has that name) or NotFound."""
        name, price_text = split_name_and_price(text)
        price = checked_price(price_text)
        try:
            async with self._session.begin():
                repo = VariantRepo(self._session)
                if await CatalogRepo(self._session).get(Product, product_id, lock=True) is None:
                    raise NotFound
                active = await repo.of_product(product_id)
                same = await repo.named(product_id, name)
                if same is not None and same.is_active:
                    raise NameTaken
                unnamed = active[0] if len(active) == 1 and not active[0].name else None
                variant = same or unnamed
                if variant is None:
                    variant = await repo.add(product_id, name, price)
                    await self._audit(actor, "variant.create", variant, None, {"name": name, "price_minor": price})
                    return variant.id
                values = {"name": name, "price_minor": price, "is_active": True}
                await self._set(actor, "variant.create", variant, values)
                return variant.id
        except IntegrityError:  # the same name was added meanwhile, by another admin or an import
            raise NameTaken from None

    async def rename(self, actor: str, variant_id: int, text: str) -> int:
        """Returns the product's id. Raises InventoryRefused, NameTaken or NotFound."""
        name = checked_variant_name(text)
        try:
            async with self._session.begin():
                variant = await self._active(variant_id)
                other = await VariantRepo(self._session).named(variant.product_id, name)
                if other is not None and other.id != variant.id:
                    raise NameTaken
                await self._set(actor, "variant.rename", variant, {"name": name})
                return variant.product_id
        except IntegrityError:
            raise NameTaken from None

    async def set_price(self, actor: str, variant_id: int, text: str) -> int:
        """New orders pay the new price; existing orders keep theirs. Returns the product's id. Raises
        InventoryRefused or NotFound."""
        price = checked_price(text)
        async with self._session.begin():
            variant = await self._active(variant_id)
            await self._set(actor, "variant.price", variant, {"price_minor": price})
            return variant.product_id

    async def set_reseller_price(self, actor: str, variant_id: int, text: str) -> int:
        """What buyers in the reseller group pay for the variant ("-": the normal price). Returns the product's
        id. Raises InventoryRefused or NotFound."""
        minor = None if text.strip() == "-" else checked_price(text)
        async with self._session.begin():
            variant = await self._active(variant_id)
            await self._set(actor, "variant.reseller_price", variant, {"reseller_price_minor": minor})
            return variant.product_id

    async def delete(self, actor: str, variant_id: int) -> VariantRemoved:
        """Take a variant off sale for good: its available units are deleted (a DELETE conditional on their
        status, so a unit a checkout holds stays); with no unit of it left it is deleted (cart lines holding it
        go too, order lines keep its name), otherwise it is retired: kept for its held and sold units, never
        offered again. One transaction under the catalog import lock, audited. Raises LastVariant when it is the
        product's only active variant, NotFound when it is gone (so deleting twice deletes once)."""
        async with self._session.begin():
            await CatalogRepo(self._session).lock_for_import()
            variant = await self._active(variant_id)
            repo, stock = VariantRepo(self._session), StockRepo(self._session)
            if len(await repo.of_product(variant.product_id)) < 2:
                raise LastVariant
            removed = await stock.remove_variant_available(variant.id)
            kept = sum((await stock.variant_unit_counts([variant.id])).values())
            before = {"name": variant.name, "price_minor": variant.price_minor}
            after = {"available_removed": removed, "kept": kept}
            if kept:
                variant.is_active = False
                await self._session.flush()
            else:
                await repo.delete(variant.id)
            await self._audit(actor, "variant.retire" if kept else "variant.delete", variant, before, after)
            return VariantRemoved(variant.product_id, not kept)

    async def _active(self, variant_id: int) -> Variant:
        variant = await VariantRepo(self._session).get(variant_id, lock=True)
        if variant is None or not variant.is_active:
            raise NotFound
        return variant

    async def _set(self, actor: str, action: str, variant: Variant, values: dict[str, Any]) -> None:
        """Set the variant's fields, with one audit row; nothing (no row) when they already have these values."""
        if (before := await set_fields(self._session, variant, values)) is not None:
            await self._audit(actor, action, variant, before, values)

    async def _audit(
        self, actor: str, action: str, variant: Variant, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> None:
        after = {"product_id": variant.product_id, **after}
        await AuditRepo(self._session).record(actor, action, "variant", variant.id, before=before, after=after)
