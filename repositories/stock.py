"""Stock units: holding, releasing and selling them, counting them, adding new ones and taking available
ones off the shelf. Every change of a unit is a conditional UPDATE or DELETE on its status. Flushes, never
commits.

Each variant counts its available units (`Variant.available_units`), so availability is read in O(1) however
many units there are. Only this module writes stock units, and every statement here that makes units available
or takes them away moves the counter of each variant concerned, in the same transaction, by the rows it
changed (RETURNING or rowcount), never by what it meant to change. The counters move in ascending variant
id within a transaction, so on PostgreSQL two transactions touching the same variants (a checkout of several
variants, an expiry giving several back) take their row locks in one order. `miscounted` checks the rule."""

import functools
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    Select,
    SQLColumnExpression,
    Update,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models.enums import ProductKind, StockStatus
from models.orders import Reservation
from models.shop import Product, ProductPayload, StockUnit, Variant
from models.types import utcnow
from repositories.base import dialect_of

INSERT_CHUNK = 1000  # rows per executemany: bounded memory, and few round trips for 10,000 units
ID_CHUNK = 1000  # values per IN (...): far below asyncpg's 32,767 parameters and SQLite's 32,766 variables
_T = TypeVar("_T")


@functools.cache
def _available_of_variants() -> Select[tuple[int, int | None]]:
    """StockRepo.available_of_variants's statement, with the parameter `variant_ids` (a list); built once
    (repositories.base): the card, add-to-cart and the cart read it on every press."""
    return (
        select(Variant.id, StockRepo.variant_left())
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(bindparam("variant_ids", expanding=True)))
    )


@functools.cache
def _hold() -> Update:
    """The oldest `quantity` available units of the variant `variant` become the order `order`'s, returning
    their ids; built once: SQLAlchemy took longer to build it and its cache key than to run it. The candidates
    are a MATERIALIZED CTE, picked once (PostgreSQL may run an `IN (SELECT ... LIMIT n)` subquery once per outer
    row and so update more than n rows), locked with SKIP LOCKED on PostgreSQL (see `reserve`). A Core UPDATE: no
    unit is loaded as an object in a checkout, so there is nothing in the session to bring up to date."""
    units = StockUnit.__table__.c
    candidates = (
        select(units.id)
        .where(units.variant_id == bindparam("variant"), units.status == StockStatus.available)
        .order_by(units.id)
        .limit(bindparam("quantity"))
        .with_for_update(skip_locked=True)
        .cte("candidates")
        .prefix_with("MATERIALIZED")
    )
    return (
        update(StockUnit.__table__)  # type: ignore[arg-type]
        .where(units.id.in_(select(candidates.c.id)), units.status == StockStatus.available)
        .values(status=StockStatus.reserved, order_id=bindparam("order"))
        .returning(units.id)
    )


@functools.cache
def _hold_booked() -> Select[tuple[int]]:
    """PostgreSQL: `_hold`, and when it took all `quantity` units, their reservations (`order`, `until`,
    `reserved_at`) and the variant's counter, in one statement (data-modifying CTEs, which see the rows the
    hold returns): `reserve`'s three statements as one. A short hold changes only the units, as `_hold` alone."""
    held = _hold().cte("held")
    count = select(func.count()).select_from(held).scalar_subquery()
    whole = count == bindparam("quantity")
    reservations, variants = Reservation.__table__, Variant.__table__
    booked = insert(reservations).from_select(  # type: ignore[arg-type]
        ["order_id", "stock_unit_id", "expires_at", "reserved_at"],
        select(
            bindparam("order"),
            held.c.id,
            bindparam("until", type_=reservations.c.expires_at.type),
            bindparam("reserved_at", type_=reservations.c.reserved_at.type),
        )
        .where(whole)
        .order_by(held.c.id),  # ids in ascending unit id, as `reserve` writes them on SQLite
    )
    counted = (
        update(variants)  # type: ignore[arg-type]
        .where(variants.c.id == bindparam("variant"), whole)
        .values(available_units=variants.c.available_units - count)
    )
    return select(held.c.id).add_cte(booked.cte("booked"), counted.cte("counted"))


@functools.cache
def _give_back() -> Update:
    """The units `units` a short hold took are available again (`reserve`): no order's any more."""
    units = StockUnit.__table__.c
    return (
        update(StockUnit.__table__)  # type: ignore[arg-type]
        .where(units.id.in_(bindparam("units", expanding=True)))
        .values(status=StockStatus.available, order_id=None)
    )


@functools.cache
def _reservations() -> Insert:
    return insert(Reservation.__table__)  # type: ignore[arg-type]


@functools.cache
def _count_in() -> Update:
    """The variant `variant`'s counter moves by `delta`. A Core UPDATE: the counter is read with SQL wherever it
    is read, never from a loaded Variant, whose attribute keeps the value it was loaded with."""
    variants = Variant.__table__.c
    return (
        update(Variant.__table__)  # type: ignore[arg-type]
        .where(variants.id == bindparam("variant"))
        .values(available_units=variants.available_units + bindparam("delta"))
    )


class StockRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def reserve(self, variant_id: int, quantity: int, order_id: int, until: datetime) -> list[int]:
        """Hold `quantity` available units of a variant (and no other) for an order; returns the ids held.

        No ids means too little stock, and nothing changed: the caller must roll back. On PostgreSQL the
        candidate rows are locked with SKIP LOCKED so concurrent buyers take different units; on SQLite
        the transaction already holds the write lock. `status = 'available'` in the UPDATE itself makes
        the hold conditional either way, and reservations.stock_unit_id is unique. On PostgreSQL the hold, the
        reservations and the counter are one statement (`_hold_booked`), on SQLite three.
        """
        params: dict[str, Any] = {"variant": variant_id, "quantity": quantity, "order": order_id}
        booked = dialect_of(self._s) == "postgresql"  # the reservations and the counter in the hold's statement
        if booked:
            params |= {"until": until, "reserved_at": utcnow()}
        result = await self._s.execute(_hold_booked() if booked else _hold(), params)
        unit_ids = sorted(int(i) for i in result.scalars())  # RETURNING's order is the plan's: ascending, as picked
        if len(unit_ids) < quantity:  # short: what it took goes back (one more statement, on this rare path)
            if unit_ids:
                await self._s.execute(_give_back(), {"units": unit_ids})
            return []
        if unit_ids and not booked:
            await self._s.execute(
                _reservations(), [{"order_id": order_id, "stock_unit_id": uid, "expires_at": until} for uid in unit_ids]
            )
            await self._move({variant_id: -len(unit_ids)})
        return unit_ids

    async def release(self, order_id: int) -> int:
        """Give an order's held units back to the shelf; returns how many. Idempotent."""
        await self._s.execute(delete(Reservation).where(Reservation.order_id == order_id))
        result = await self._s.execute(
            update(StockUnit)
            .where(StockUnit.order_id == order_id, StockUnit.status == StockStatus.reserved)
            .values(status=StockStatus.available, order_id=None)
            .returning(StockUnit.variant_id)
        )
        released = Counter(int(v) for v in result.scalars())
        await self._move(released)
        return released.total()

    async def sell(self, order_id: int, at: datetime) -> int:
        """Mark an order's held units sold and drop its reservations; returns how many. Idempotent. Held units
        were already off the shelf: no counter moves."""
        await self._s.execute(delete(Reservation).where(Reservation.order_id == order_id))
        result = await self._s.execute(
            update(StockUnit)
            .where(StockUnit.order_id == order_id, StockUnit.status == StockStatus.reserved)
            .values(status=StockStatus.sold, sold_at=at)
        )
        return int(getattr(result, "rowcount", 0))

    async def sold_payloads(self, order_id: int) -> list[tuple[int, bool, bytes]]:
        """(product id, is a document, sealed payload) of the order's sold units, in unit order."""
        result = await self._s.execute(
            select(StockUnit.product_id, Product.kind == ProductKind.file, StockUnit.payload_enc)
            .join(Product, Product.id == StockUnit.product_id)
            .where(
                StockUnit.order_id == order_id,
                StockUnit.status == StockStatus.sold,
                StockUnit.payload_enc.is_not(None),
            )
            .order_by(StockUnit.id)
        )
        return [(int(pid), bool(is_file), bytes(blob)) for pid, is_file, blob in result.tuples() if blob is not None]

    @staticmethod
    def _unless_unlimited(
        units: SQLColumnExpression[int], product_id: SQLColumnExpression[int]
    ) -> ColumnElement[int | None]:
        """`units` for a product that keeps stock; for an unlimited one (ProductKind.keeps_stock), which never sells
        out, NULL once it has its payload (0 before: there is nothing to deliver yet). The query has the product's
        row (`Product.kind`)."""
        payload = exists().where(ProductPayload.product_id == product_id)
        return case((Product.kind == ProductKind.unlimited, case((payload, null()), else_=0)), else_=units)

    @classmethod
    def variant_left(cls) -> ColumnElement[int | None]:
        """The available units of the variant in the query, by its counter (`_unless_unlimited`: None for an
        unlimited product's); the query has the variant's product's row."""
        return cls._unless_unlimited(Variant.available_units, Variant.product_id)

    @classmethod
    def available_count(cls) -> ColumnElement[int | None]:
        """The available units of the product in the query, all its variants' (their counters), as a correlated
        subquery (a list of products reads its stock in the same query); NULL for an unlimited product
        (`_unless_unlimited`)."""
        summed = func.coalesce(func.sum(Variant.available_units), 0)
        # CAST: PostgreSQL's sum of a bigint is a numeric, which would come back as a Decimal
        units = select(cast(summed, BigInteger)).where(Variant.product_id == Product.id).scalar_subquery()
        return cls._unless_unlimited(units, Product.id)

    async def available_of_variants(self, variant_ids: Sequence[int]) -> dict[int, int | None]:
        """Units neither reserved nor sold, per variant (missing ids count 0); None for a variant of a product that
        keeps no stock: an unlimited product's variants differ only in price."""
        if not variant_ids:
            return {}
        result = await self._s.execute(_available_of_variants(), {"variant_ids": list(variant_ids)})
        counts = {int(vid): None if n is None else int(n) for vid, n in result.all()}
        return {vid: counts.get(vid, 0) for vid in variant_ids}

    async def miscounted(self) -> list[tuple[int, int, int, int]]:
        """(variant id, product id, its counter, its available unit rows) of every variant whose counter is not
        the number of its available units, by variant id; empty when every counter is right. One query."""
        rows = (
            select(func.count())
            .where(StockUnit.variant_id == Variant.id, StockUnit.status == StockStatus.available)
            .scalar_subquery()
        )
        result = await self._s.execute(
            select(Variant.id, Variant.product_id, Variant.available_units, rows)
            .where(Variant.available_units != rows)
            .order_by(Variant.id)
        )
        return [(int(v), int(p), int(counter), int(n)) for v, p, counter, n in result.tuples()]

    async def variant_unit_counts(self, variant_ids: Sequence[int] | None = None) -> dict[tuple[int, StockStatus], int]:
        """Number of units per (variant id, status), of these variants or of all; pairs with no unit are absent."""
        return await self._tally(StockUnit.variant_id, Variant.id, variant_ids)

    async def unit_counts(self, product_id: int) -> dict[StockStatus, int]:
        """Units of one product per status; every status is present."""
        counts = await self.all_unit_counts([product_id])
        return {status: counts.get((product_id, status), 0) for status in StockStatus}

    async def all_unit_counts(self, product_ids: Sequence[int] | None = None) -> dict[tuple[int, StockStatus], int]:
        """Number of units per (product id, status), of these products or of all; pairs with no unit are absent."""
        return await self._tally(StockUnit.product_id, Variant.product_id, product_ids)

    async def _tally(
        self, unit_key: InstrumentedAttribute[int], variant_key: InstrumentedAttribute[int], ids: Sequence[int] | None
    ) -> dict[tuple[int, StockStatus], int]:
        """Units per (key, status), keyed by variant or by product: the available ones from the variants'
        counters, held and sold ones counted (only those rows are read)."""
        held = (
            select(unit_key, StockUnit.status, func.count())
            .where(StockUnit.status != StockStatus.available)
            .group_by(unit_key, StockUnit.status)
        )
        shelf = select(variant_key, func.sum(Variant.available_units)).group_by(variant_key)
        if ids is not None:
            held, shelf = held.where(unit_key.in_(ids)), shelf.where(variant_key.in_(ids))
        counts = {(int(key), StockStatus(status)): int(n) for key, status, n in (await self._s.execute(held)).all()}
        counts.update(
            {(int(key), StockStatus.available): int(n) for key, n in (await self._s.execute(shelf)).all() if n}
        )
        return counts

    async def payload_digests(self, product_id: int) -> set[str]:
        """Keyed digests of every unit of the product that has a payload, whatever its status."""
        return set(await self.statuses_by_digest(product_id))

    async def statuses_by_digest(self, product_id: int) -> dict[str, StockStatus]:
        """The status of each unit of the product that has a payload, by the payload's keyed digest."""
        result = await self._s.execute(
            select(StockUnit.payload_digest, StockUnit.status).where(
                StockUnit.product_id == product_id, StockUnit.payload_digest.is_not(None)
            )
        )
        return {digest: StockStatus(status) for digest, status in result.tuples() if digest is not None}

    async def available_payloads(self) -> dict[int, list[bytes]]:
        """Sealed text payloads of units neither reserved nor sold, per variant id, oldest first (a file
        product's documents are not among them)."""
        result = await self._s.execute(
            select(StockUnit.variant_id, StockUnit.payload_enc)
            .join(Product, Product.id == StockUnit.product_id)
            .where(
                StockUnit.status == StockStatus.available,
                StockUnit.payload_enc.is_not(None),
                Product.kind == ProductKind.digital,
            )
            .order_by(StockUnit.id)
        )
        payloads: dict[int, list[bytes]] = {}
        for vid, blob in result.all():
            payloads.setdefault(int(vid), []).append(bytes(blob))
        return payloads

    async def add_units(
        self, product_id: int, variant_id: int, payloads: Sequence[tuple[bytes, str] | None], at: datetime
    ) -> None:
        """Insert one available unit of the variant (of the product `product_id`) per item: (sealed payload, digest)
        for digital goods, None for physical ones.

        Chunked executemany, no ORM objects. A digest already stored for the product violates
        uq_stock_units_product_id_payload_digest: the caller filters those out first.
        """
        for start in range(0, len(payloads), INSERT_CHUNK):
            rows: list[dict[str, Any]] = [
                {
                    "product_id": product_id,
                    "variant_id": variant_id,
                    "status": StockStatus.available,
                    "created_at": at,
                    "payload_enc": item[0] if item else None,
                    "payload_digest": item[1] if item else None,
                }
                for item in payloads[start : start + INSERT_CHUNK]
            ]
            await self._s.execute(insert(StockUnit), rows)
        await self._move({variant_id: len(payloads)})  # exact: a plain INSERT adds every row or raises

    async def remove_available(self, product_ids: Sequence[int], digests: Sequence[str] | None = None) -> int:
        """Delete the available units of these products, or only those whose payload has one of these keyed
        digests; returns how many.

        Held and sold units are never touched: the status is part of each DELETE, so on PostgreSQL a unit a
        checkout is holding (its row locked) is checked again once that checkout ends, and stays if it was held.
        """
        removed: Counter[int] = Counter()
        for ids in _chunks(product_ids):
            for some in [None] if digests is None else _chunks(digests):
                stmt = delete(StockUnit).where(StockUnit.product_id.in_(ids), StockUnit.status == StockStatus.available)
                stmt = stmt if some is None else stmt.where(StockUnit.payload_digest.in_(some))
                result = await self._s.execute(stmt.returning(StockUnit.variant_id))
                removed.update(int(v) for v in result.scalars())
        await self._move({variant_id: -n for variant_id, n in removed.items()})
        return removed.total()

    async def remove_variant_available(self, variant_id: int) -> int:
        """Delete the variant's available units; returns how many. Held and sold ones stay (see remove_available)."""
        result = await self._s.execute(
            delete(StockUnit).where(StockUnit.variant_id == variant_id, StockUnit.status == StockStatus.available)
        )
        removed = int(getattr(result, "rowcount", 0))
        await self._move({variant_id: -removed})
        return removed

    async def remove_newest_available(self, variant_id: int, count: int) -> int:
        """Delete up to `count` available units of a variant, newest first; returns how many.

        Checkouts hold the oldest units (see `reserve`), so taking from the other end rarely meets them; on
        PostgreSQL units a checkout has locked are skipped, and the DELETE is conditional on the status anyway.
        """
        candidates = list(
            (
                await self._s.execute(
                    select(StockUnit.id)
                    .where(StockUnit.variant_id == variant_id, StockUnit.status == StockStatus.available)
                    .order_by(StockUnit.id.desc())
                    .limit(count)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        removed = 0
        for ids in _chunks(candidates):
            result = await self._s.execute(
                delete(StockUnit).where(StockUnit.id.in_(ids), StockUnit.status == StockStatus.available)
            )
            removed += int(getattr(result, "rowcount", 0))
        await self._move({variant_id: -removed})
        return removed

    async def _move(self, deltas: Mapping[int, int]) -> None:
        """Add each variant's delta to its counter: one atomic UPDATE per variant that changed, in ascending
        variant id (the lock order, see the module's docstring). The CHECK available_units >= 0 refuses a
        counter that would go below zero."""
        for variant_id in sorted(deltas):
            if deltas[variant_id]:
                await self._s.execute(_count_in(), {"variant": variant_id, "delta": deltas[variant_id]})


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), ID_CHUNK):
        yield items[start : start + ID_CHUNK]
