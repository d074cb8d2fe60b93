"""The admin's catalog: browse every node (inactive ones too), create, rename, (de)activate, price, describe,
and delete a node that has nothing held or sold under it.

Names, prices and descriptions are checked by the catalog import's own checker, so the panel and
`python -m bot catalog import` accept exactly the same values. Every change is one transaction with its
audit row (actor "admin:<telegram id>", before and after).
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import ProductKind, StockStatus
from models.shop import Category, Product, Subcategory, Variant
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo, Node
from repositories.payloads import ProductPayloadRepo
from repositories.stock import StockRepo
from repositories.variants import VariantRepo
from services.admin.dto import VariantAdmin
from services.catalog_io.format import parse_catalog
from services.catalog_io.importer import kind_change_problem
from services.money import from_minor
from services.shop.catalog import NotFound

PAGE_SIZE = 8


class Level(StrEnum):
    category = "c"
    subcategory = "s"
    product = "p"


MODELS: dict[Level, type[Node]] = {Level.category: Category, Level.subcategory: Subcategory, Level.product: Product}


class InventoryRefused(Exception):
    """A value the catalog rules reject; `problem` says why (the import checker's words)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class NameTaken(Exception):
    """Another node under the same parent already has this name."""


class SeveralVariants(Exception):
    """The product has several variants: a price is given to one of them, not to the product."""


class InUse(Exception):
    """Units under the node are held by open orders or sold: it can be hidden, never deleted."""

    def __init__(self, held: int, sold: int) -> None:
        super().__init__(held, sold)
        self.held = held
        self.sold = sold


@dataclass(frozen=True, slots=True)
class AdminNode:
    id: int
    name: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class Listing:
    """A node (None: the catalog root) and one page of its children."""

    node: AdminNode | None
    parent_id: int  # the node's own parent (0 for a category): where "back" goes
    items: list[AdminNode]
    page: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class ProductAdmin:
    id: int
    subcategory_id: int
    name: str
    description: str
    price: Decimal  # its only variant's, or the lowest of its variants'
    kind: ProductKind
    is_active: bool
    available: int
    reserved: int
    sold: int
    reseller_price: Decimal | None = None  # what resellers pay instead (of its only variant)
    warranty_days: int | None = None
    limit: tuple[int, int] | None = None  # (units, days) per buyer
    payload_is_file: bool | None = None  # an unlimited product's payload: a document, a text, or None yet
    variants: tuple[VariantAdmin, ...] = ()  # the active ones; a plain product has one, unnamed

    @property
    def plain(self) -> bool:
        """One variant: the product's price and stock are that variant's, and the screen shows no variants."""
        return len(self.variants) == 1


@dataclass(frozen=True, slots=True)
class NodeContents:
    """What deleting a node would delete with it, and what keeps it from being deleted."""

    node: AdminNode
    subcategories: int
    products: int
    available: int  # deleted with the node
    held: int  # reserved by open orders: the node cannot be deleted
    sold: int  # sold: the node cannot be deleted

    @property
    def deletable(self) -> bool:
        return not (self.held or self.sold)


@dataclass(frozen=True, slots=True)
class ProductDraft:
    name: str
    description: str
    price: str  # as the admin typed it
    kind: ProductKind


def checked_name(text: str) -> str:
    """The name without surrounding spaces. Raises InventoryRefused as the catalog import would."""
    name = text.strip()
    _raise_problems({"categories": [{"name": name}]})
    return name


def checked_variant_name(text: str) -> str:
    """A variant's name without surrounding spaces. Raises InventoryRefused as the catalog import would."""
    name = text.strip()
    _raise_problems(_one_product(price=None, variants=[{"name": name, "price": "1"}]))
    return name


def checked_price(text: str) -> int:
    """Minor units of a price typed as 12.50 or 12,50. Raises InventoryRefused as the catalog import would."""
    spec = _raise_problems(_one_product(price=text.strip().replace(",", ".", 1)))
    return int(spec.products[0].variants[0].price_minor)


def checked_description(text: str) -> str:
    """ "-" clears it. Raises InventoryRefused for text the catalog import would refuse."""
    description = "" if text.strip() == "-" else text.strip()
    _raise_problems(_one_product(description=description))
    return description


def checked_warranty(text: str) -> int | None:
    """Days of warranty typed as a whole number ("-": none). Raises InventoryRefused as the catalog import would."""
    if text.strip() == "-":
        return None
    spec = _raise_problems(_one_product(warranty_days=_whole(text.strip())))
    days: int | None = spec.products[0].warranty_days
    return days


def checked_limit(text: str) -> tuple[int | None, int | None]:
    """(units, days) typed as "2 30" ("-": no limit, (None, None)). Raises InventoryRefused as the catalog import
    would."""
    if text.strip() == "-":
        return None, None
    parts = text.split()
    if len(parts) != 2:
        raise InventoryRefused("two whole numbers: units, then days (e.g. 2 30)")
    spec = _raise_problems(_one_product(limit={"units": _whole(parts[0]), "days": _whole(parts[1])}))
    limit = spec.products[0].limit
    return limit.units, limit.days


def _whole(text: str) -> object:
    """A typed whole number as the catalog checker takes it; anything else as it is, for it to refuse."""
    return int(text) if text.isascii() and text.isdigit() else text


def _one_product(**fields: Any) -> dict[str, Any]:
    """A catalog file of one product with these fields (None: without that field)."""
    product = {"name": "p", "price": "1", "kind": ProductKind.physical.value, **fields}
    product = {key: value for key, value in product.items() if value is not None}
    return {"categories": [{"name": "c", "subcategories": [{"name": "s", "products": [product]}]}]}


def _raise_problems(data: dict[str, Any]) -> Any:
    spec, problems = parse_catalog(data)
    if problems:
        raise InventoryRefused(problems[0].split(": ", 1)[-1])
    return spec


def _node(row: Node) -> AdminNode:
    return AdminNode(row.id, row.name, row.is_active)


def _per_status(counts: dict[tuple[int, StockStatus], int]) -> dict[StockStatus, int]:
    """Units per status, summed over products; every status is present."""
    return {status: sum(n for (_, s), n in counts.items() if s is status) for status in StockStatus}


def _parent_id(row: Node) -> int | None:
    if isinstance(row, Subcategory):
        return row.category_id
    return row.subcategory_id if isinstance(row, Product) else None


async def set_fields(session: AsyncSession, row: Variant, values: dict[str, Any]) -> dict[str, Any] | None:
    """Inside the caller's transaction: give the variant these values; returns what they were, or None (and
    changes nothing) when it already has them."""
    before = {key: getattr(row, key) for key in values}
    if before == values:
        return None
    for key, value in values.items():
        setattr(row, key, value)
    await session.flush()
    return before


async def variant_views(session: AsyncSession, product_id: int) -> list[VariantAdmin]:
    """Inside the caller's transaction: the product's active variants, each with its units per status."""
    product = await CatalogRepo(session).get(Product, product_id)
    if not isinstance(product, Product):
        raise NotFound
    variants = await VariantRepo(session).of_product(product_id)
    counts = await StockRepo(session).variant_unit_counts([v.id for v in variants])
    return [_view(product, v, counts) for v in variants]


def _view(product: Product, v: Variant, counts: dict[tuple[int, StockStatus], int]) -> VariantAdmin:
    return VariantAdmin(
        v.id,
        product.id,
        product.name,
        product.kind,
        v.name,
        from_minor(v.price_minor),
        from_minor(v.reseller_price_minor) if v.reseller_price_minor is not None else None,
        counts.get((v.id, StockStatus.available), 0),
        counts.get((v.id, StockStatus.reserved), 0),
        counts.get((v.id, StockStatus.sold), 0),
    )


class AdminInventoryService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def listing(self, level: Level | None, node_id: int, page: int) -> Listing:
        """The root (level None), a category's subcategories or a subcategory's products. Read-only.

        Raises NotFound for a missing category or subcategory.
        """
        async with read_only(self._session):
            repo = CatalogRepo(self._session)
            if level is None:
                categories, more = await repo.categories_page(page, PAGE_SIZE, for_buyers=False)
                return Listing(None, 0, [_node(r) for r in categories], page, more)
            node = await repo.get(MODELS[level], node_id)
            if node is None or level is Level.product:
                raise NotFound
            rows: list[Subcategory] | list[Product]
            if level is Level.category:
                rows, more = await repo.subcategories_page(node_id, page, PAGE_SIZE, for_buyers=False)
            else:
                rows, more = await repo.page(CatalogRepo.products(node_id), page, PAGE_SIZE)
        return Listing(_node(node), _parent_id(node) or 0, [_node(r) for r in rows], page, more)

    async def product(self, product_id: int) -> ProductAdmin:
        """The product with its units per status and its active variants. Raises NotFound."""
        async with read_only(self._session):
            product = await CatalogRepo(self._session).get(Product, product_id)
            if not isinstance(product, Product):
                raise NotFound
            counts = await StockRepo(self._session).unit_counts(product_id)
            payload = await ProductPayloadRepo(self._session).is_file(product_id)
            variants = await variant_views(self._session, product_id)
        limit = (product.limit_units, product.limit_days)
        cheapest = min(variants, key=lambda v: v.price, default=None)
        return ProductAdmin(
            product.id,
            product.subcategory_id,
            product.name,
            product.description,
            cheapest.price if cheapest else Decimal(0),
            product.kind,
            product.is_active,
            counts[StockStatus.available],
            counts[StockStatus.reserved],
            counts[StockStatus.sold],
            variants[0].reseller_price if len(variants) == 1 else None,
            product.warranty_days,
            (limit[0], limit[1]) if limit[0] is not None and limit[1] is not None else None,
            payload,
            tuple(variants),
        )

    async def create(self, actor: str, level: Level, parent_id: int, name: str) -> int:
        """A new active category (parent_id ignored) or subcategory of `parent_id`; returns its id.

        Raises InventoryRefused (bad name), NameTaken, or NotFound (no such parent category).
        """
        name = checked_name(name)
        return await self._write(actor, level, "create", None, parent_id, name=name)

    async def create_product(self, actor: str, subcategory_id: int, draft: ProductDraft) -> int:
        """A new active product with no units; returns its id. Raises InventoryRefused, NameTaken, NotFound."""
        name, description = checked_name(draft.name), checked_description(draft.description)
        price = checked_price(draft.price)
        return await self._write(
            actor,
            Level.product,
            "create",
            None,
            subcategory_id,
            name=name,
            description=description,
            price_minor=price,
            kind=draft.kind.value,
        )

    async def rename(self, actor: str, level: Level, node_id: int, name: str) -> None:
        """Raises InventoryRefused, NameTaken or NotFound. Renaming to the same name changes nothing."""
        await self._write(actor, level, "rename", node_id, None, name=checked_name(name))

    async def set_active(self, actor: str, level: Level, node_id: int, active: bool) -> None:
        """Hide a node (and so everything under it) from buyers, or show it again. Raises NotFound.

        Units stay as they are: held ones can still be paid for. Idempotent.
        """
        await self._write(actor, level, "activate" if active else "deactivate", node_id, None, is_active=active)

    async def set_price(self, actor: str, product_id: int, price: str) -> None:
        """A plain product's price (its only variant's). New orders pay the new price; existing orders keep
        theirs. Raises InventoryRefused, NotFound or SeveralVariants (each variant has its own)."""
        await self._price(actor, product_id, "price", price_minor=checked_price(price))

    async def set_reseller_price(self, actor: str, product_id: int, price: str) -> None:
        """What buyers in the reseller group pay for a plain product ("-": the normal price). Raises
        InventoryRefused, NotFound or SeveralVariants."""
        minor = None if price.strip() == "-" else checked_price(price)
        await self._price(actor, product_id, "reseller_price", reseller_price_minor=minor)

    async def _price(self, actor: str, product_id: int, action: str, **values: int | None) -> None:
        """Set the only variant's price fields, audited as the product's; nothing when they are already so."""
        async with self._session.begin():
            if await CatalogRepo(self._session).get(Product, product_id, lock=True) is None:
                raise NotFound
            variants = VariantRepo(self._session)
            active = await variants.of_product(product_id)
            if len(active) != 1:
                raise SeveralVariants
            variant = await variants.get(active[0].id, lock=True)
            assert variant is not None  # read just now, in this transaction
            if (before := await set_fields(self._session, variant, values)) is not None:
                await AuditRepo(self._session).record(
                    actor, f"product.{action}", "product", product_id, before=before, after=values
                )

    async def set_description(self, actor: str, product_id: int, text: str) -> None:
        """Raises InventoryRefused or NotFound."""
        await self._write(actor, Level.product, "describe", product_id, None, description=checked_description(text))

    async def set_kind(self, actor: str, product_id: int, kind: ProductKind) -> None:
        """Make the product of another kind, by the catalog import's rule (kind_change_problem). One transaction
        under the catalog import lock, with the product's row locked and its units counted in it; audited. The
        same kind again changes nothing. Raises InventoryRefused or NotFound."""
        async with self._session.begin():
            repo = CatalogRepo(self._session)
            await repo.lock_for_import()  # stock comes in under this lock: the count below stays true
            product = await repo.get(Product, product_id, lock=True)
            if not isinstance(product, Product):
                raise NotFound
            if problem := kind_change_problem(
                product.kind, kind, await StockRepo(self._session).unit_counts(product_id)
            ):
                raise InventoryRefused(problem)
            if product.kind is kind:
                return
            before, product.kind = product.kind, kind
            await self._session.flush()
            await AuditRepo(self._session).record(
                actor, "product.kind", "product", product_id, before={"kind": before.value}, after={"kind": kind.value}
            )

    async def set_warranty(self, actor: str, product_id: int, text: str) -> None:
        """The product's warranty in days ("-": none); orders already paid keep theirs only while the product
        keeps one, since it is counted from the product. Raises InventoryRefused or NotFound."""
        await self._write(actor, Level.product, "warranty", product_id, None, warranty_days=checked_warranty(text))

    async def set_limit(self, actor: str, product_id: int, text: str) -> None:
        """The per-buyer limit, typed as "UNITS DAYS" ("2 30": two per buyer within any 30 days; "-": none).
        Raises InventoryRefused or NotFound."""
        units, days = checked_limit(text)
        await self._write(actor, Level.product, "limit", product_id, None, limit_units=units, limit_days=days)

    async def contents(self, level: Level, node_id: int) -> NodeContents:
        """The node, what is under it, and its units per status. Read-only. Raises NotFound."""
        async with read_only(self._session):
            repo = CatalogRepo(self._session)
            node = await repo.get(MODELS[level], node_id)
            if node is None:
                raise NotFound
            subcategories, products = await repo.contents(node)
            counts = await StockRepo(self._session).all_unit_counts(products)
        units = _per_status(counts)
        return NodeContents(
            _node(node),
            subcategories,
            len(products),
            units[StockStatus.available],
            units[StockStatus.reserved],
            units[StockStatus.sold],
        )

    async def delete(self, actor: str, level: Level, node_id: int) -> int:
        """Delete a node with everything under it, its available units included, when no unit under it is held
        or sold; returns its parent's id (0 for a category). Audited. Order items keep their product's name.

        One transaction under the catalog import lock. The available units go first, by a DELETE conditional on
        their status, so a unit a checkout holds is never deleted; any unit left is held or sold, and then
        InUse is raised and nothing changes. Raises NotFound for a missing node, so deleting twice deletes once.
        """
        async with self._session.begin():
            repo, stock = CatalogRepo(self._session), StockRepo(self._session)
            await repo.lock_for_import()
            node = await repo.get(MODELS[level], node_id, lock=True)
            if node is None:
                raise NotFound
            subcategories, products = await repo.contents(node)
            removed = await stock.remove_available(products)
            left = await stock.all_unit_counts(products)
            if left:  # held or sold (or a unit an expiring order gave back just now): the node stays
                units = _per_status(left)
                raise InUse(units[StockStatus.reserved], units[StockStatus.sold])
            await repo.delete(node)
            await AuditRepo(self._session).record(
                actor,
                f"{level.name}.delete",
                level.name,
                node.id,
                before={"name": node.name, "subcategories": subcategories, "products": len(products)},
                after={"available_removed": removed},
            )
            return _parent_id(node) or 0

    async def _write(
        self, actor: str, level: Level, action: str, node_id: int | None, parent_id: int | None, **values: Any
    ) -> int:
        """Create (node_id None) or update one node, with its audit row, in one transaction."""
        model = MODELS[level]
        try:
            async with self._session.begin():
                repo = CatalogRepo(self._session)
                found = None if node_id is None else await repo.get(model, node_id, lock=True)
                if node_id is not None and found is None:
                    raise NotFound
                if found is not None:
                    parent_id = _parent_id(found)
                name = values.get("name")
                if name is not None and await repo.sibling_named(model, parent_id, name) not in (None, node_id):
                    raise NameTaken
                if found is None:
                    node, before = await self._insert(repo, level, parent_id or 0, values), None
                else:
                    node, before = found, {key: getattr(found, key) for key in values}
                    if before == values:
                        return node.id
                    for key, value in values.items():
                        setattr(node, key, value)
                    await self._session.flush()
                await AuditRepo(self._session).record(
                    actor, f"{level.name}.{action}", level.name, node.id, before=before, after=values
                )
                return node.id
        except IntegrityError:  # the same name was added meanwhile, by another admin or an import
            raise NameTaken from None

    @staticmethod
    async def _insert(repo: CatalogRepo, level: Level, parent_id: int, values: dict[str, Any]) -> Node:
        """A blank node of `level` under `parent_id`, filled in by the caller. Raises NotFound for a missing parent."""
        if level is Level.category:
            return await repo.add_category(values["name"])
        parent = await repo.get(Category if level is Level.subcategory else Subcategory, parent_id)
        if parent is None:
            raise NotFound
        if level is Level.subcategory:
            return await repo.add_subcategory(parent_id, values["name"])
        return await repo.add_product(
            parent_id, values["name"], values["description"], values["price_minor"], ProductKind(values["kind"])
        )
