"""The admin's vouchers: create one code or a batch of random ones from one line of text, list them, disable
and enable them. Vouchers are never deleted: orders name the code they used. Every change is audited.

A line is a code (or `batch N`), a value, then any of: `min AMOUNT`, `from YYYY-MM-DD`, `until YYYY-MM-DD`
(the last valid day, UTC), `uses N` (in all), `per N` (per buyer), and last, taking the rest of the line,
`product ID-OR-NAME` or `category ID-OR-NAME`:

    SUMMER10 10% min 20 until 2026-08-31 uses 100 per 1 category Software
    batch 50 5.00 until 2026-12-31
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import VoucherKind
from models.promotions import Voucher
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from repositories.vouchers import VoucherRepo
from services.money import to_minor
from services.shop.catalog import NotFound
from services.shop.prices import voucher_info
from services.shop.vouchers import VoucherInfo, VoucherRefused, normalized_code, parse_value, random_code

PAGE_SIZE = 8
MAX_BATCH = 500
MAX_COUNT = 1_000_000  # uses, per buyer
BATCH_CODE_LENGTH = 10
ENTITY = "voucher"
_NUMBERS = {"uses": "max_uses", "per": "per_buyer"}


class SpecRefused(Exception):
    """The line is not a voucher: `problem` names what is wrong (an l10n key's last part), `token` where."""

    def __init__(self, problem: str, token: str = "") -> None:
        super().__init__(problem, token)
        self.problem, self.token = problem, token


@dataclass(slots=True)
class VoucherSpec:
    code: str | None  # None: a batch of `count` random codes
    count: int
    kind: VoucherKind
    value: int
    fields: dict[str, Any] = field(default_factory=dict)  # min_order_minor, valid_*, max_uses, per_buyer
    product: str | None = None  # as typed: an id or a name
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Created:
    vouchers: list[VoucherInfo]
    batch: str | None  # the batch's label, for a batch


def parse_spec(text: str) -> VoucherSpec:
    """One line as described in the module's docstring. Raises SpecRefused."""
    words = text.split()
    if len(words) < 2:
        raise SpecRefused("short")
    if words[0].lower() == "batch":
        count = _count(words[1], MAX_BATCH)
        code, rest = None, words[2:]
    else:
        try:
            code = normalized_code(words[0])
        except VoucherRefused:
            raise SpecRefused("code", words[0]) from None
        count, rest = 1, words[1:]
    if not rest:
        raise SpecRefused("short")
    try:
        kind, value = parse_value(rest[0])
    except ValueError:
        raise SpecRefused("value", rest[0]) from None
    spec = VoucherSpec(code, count, kind, value)
    if code is None:
        spec.fields["max_uses"] = 1  # a batch is one-time codes unless it says otherwise
    _options(spec, rest[1:])
    if (start := spec.fields.get("valid_from")) and (end := spec.fields.get("valid_until")) and end <= start:
        raise SpecRefused("dates")
    return spec


def _options(spec: VoucherSpec, words: list[str]) -> None:
    while words:
        word, words = words[0].lower(), words[1:]
        if word in ("product", "category") and words:
            setattr(spec, word, " ".join(words))
            return
        if not words:
            raise SpecRefused("word", word)
        value, words = words[0], words[1:]
        if word == "min":
            try:
                spec.fields["min_order_minor"] = to_minor(Decimal(value.replace(",", ".")))
            except (InvalidOperation, ValueError):
                raise SpecRefused("amount", value) from None
        elif word in ("from", "until"):
            day = _day(value)
            key = "valid_from" if word == "from" else "valid_until"
            spec.fields[key] = day if word == "from" else day + timedelta(days=1)  # until: the day's end
        elif word in _NUMBERS:
            spec.fields[_NUMBERS[word]] = _count(value, MAX_COUNT)
        else:
            raise SpecRefused("word", word)


def _count(text: str, limit: int) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9 and 0 < int(text) <= limit):
        raise SpecRefused("number", text)
    return int(text)


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        raise SpecRefused("date", text) from None


class AdminVouchersService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def page(self, page: int) -> tuple[list[VoucherInfo], bool]:
        """The shop's vouchers (not buyers' own rewards), newest first. Read-only."""
        async with read_only(self._session):
            rows, more = await VoucherRepo(self._session).page(page, PAGE_SIZE)
            return [await voucher_info(self._session, v) for v in rows], more

    async def voucher(self, voucher_id: int) -> VoucherInfo:
        """Raises NotFound. Read-only."""
        async with read_only(self._session):
            voucher = await VoucherRepo(self._session).get(voucher_id)
            if voucher is None:
                raise NotFound
            return await voucher_info(self._session, voucher)

    async def create(self, actor: str, text: str) -> Created:
        """A voucher, or a batch of random single-use codes, from one line (see the module's docstring).
        Audited. Raises SpecRefused, changing nothing: a malformed line, a code that is taken, a product or
        category that is not there (or a product name two products share)."""
        spec = parse_spec(text)
        try:
            async with self._session.begin():
                scope = await self._scope(spec)
                batch = None if spec.code else random_code(length=8)
                codes = [spec.code] if spec.code else [random_code(length=BATCH_CODE_LENGTH) for _ in range(spec.count)]
                vouchers = [
                    Voucher(code=c, kind=spec.kind, value=spec.value, batch=batch, **spec.fields, **scope)
                    for c in codes
                ]
                await VoucherRepo(self._session).add(vouchers)
                after = {"kind": spec.kind.value, "value": spec.value, "count": len(vouchers), **scope}
                after |= {k: v.isoformat() if isinstance(v, datetime) else v for k, v in spec.fields.items()}
                audit = AuditRepo(self._session)
                await audit.record(actor, "voucher.create", ENTITY, vouchers[0].id, after={**after, "batch": batch})
                return Created([await voucher_info(self._session, v) for v in vouchers], batch)
        except IntegrityError:
            raise SpecRefused("taken", spec.code or "") from None

    async def set_active(self, actor: str, voucher_id: int, active: bool) -> VoucherInfo:
        """Offer the code again, or stop it: carts that carry it see it refused, orders keep their discount.
        Audited when it changes something. Raises NotFound."""
        async with self._session.begin():
            repo = VoucherRepo(self._session)
            voucher = await repo.get(voucher_id)
            if voucher is None:
                raise NotFound
            if voucher.is_active is not active:
                await repo.set_values(voucher_id, is_active=active)
                action = "voucher.enable" if active else "voucher.disable"
                await AuditRepo(self._session).record(actor, action, ENTITY, voucher_id, after={"is_active": active})
                voucher = await repo.get(voucher_id)
                assert voucher is not None
            return await voucher_info(self._session, voucher)

    async def _scope(self, spec: VoucherSpec) -> dict[str, int]:
        repo = CatalogRepo(self._session)
        if spec.product is not None:
            products = await repo.find_products(spec.product)
            if len(products) != 1:
                raise SpecRefused("product", spec.product)
            return {"product_id": products[0].id}
        if spec.category is not None:
            category = await repo.find_category(spec.category)
            if category is None:
                raise SpecRefused("category", spec.category)
            return {"category_id": category.id}
        return {}
