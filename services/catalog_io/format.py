"""Catalog files: the JSON format of `python -m bot catalog import/export` and the admin upload.

Checked as a whole by a pure function, before anything is written: every problem is reported with its
JSON path. See README.md, "Catalog import and export".
"""

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal

from models.enums import MediaType, ProductKind
from services.dto import Media
from services.money import to_minor

MAX_NAME = 128  # the columns' length
MAX_VARIANT_NAME = 64  # product_variants.name
MAX_FILE_ID, MAX_FILE_UNIQUE_ID = 256, 64  # the media columns' lengths
MAX_TEXT = 4000  # a description or a payload must fit in one Telegram message (4096 characters)
MAX_QUANTITY = 100_000  # per physical product: a typo must not insert millions of rows
MAX_PRICE = Decimal(1_000_000_000)
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_PRODUCT_FIELDS = (
    "description",
    "price",
    "stock",
    "quantity",
    "available",
    "media",
    "variants",
    "warranty_days",
    "limit",
)
_VARIANT_FIELDS = ("stock", "quantity", "available")  # `available`: written by export, ignored
_LIMIT_FIELDS = ("units", "days")
MAX_DAYS = 3650  # a warranty or a limit's period: ten years
_MEDIA_FIELDS = ("type", "file_id", "file_unique_id")


class CatalogErrors(Exception):
    """The catalog cannot be imported and nothing was changed. `problems`: "json.path: what is wrong" each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s): " + "; ".join(problems[:3]))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class BuyerLimitSpec:
    """At most `units` per buyer within any `days` days."""

    units: int
    days: int


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One variant of a product in the file; a product without `variants` has one, unnamed (name "")."""

    name: str
    price_minor: int
    stock: tuple[str, ...]  # digital: one payload per unit
    quantity: int  # physical: how many available units the shop should hold


@dataclass(frozen=True, slots=True)
class ProductSpec:
    path: str  # JSON path, to name the product in problems found against the database
    category: str
    subcategory: str
    name: str
    description: str | None  # None: keep an existing product's description ("" for a new one)
    kind: ProductKind
    variants: tuple[VariantSpec, ...]  # at least one; names unique
    media: Media | None = None  # None: keep an existing product's picture (none for a new one)
    warranty_days: int | None = None  # None: no warranty
    limit: BuyerLimitSpec | None = None  # None: no per-buyer limit


@dataclass(slots=True)
class CatalogSpec:
    """A checked file, flattened in file order; names are unique within their parent."""

    categories: list[str] = field(default_factory=list)
    subcategories: list[tuple[str, str]] = field(default_factory=list)  # (category, subcategory)
    products: list[ProductSpec] = field(default_factory=list)
    category_media: dict[str, Media] = field(default_factory=dict)  # of the categories that give one


def load_catalog_json(raw: bytes) -> object:
    """Decode a UTF-8 catalog file (a BOM is allowed); numbers become int or Decimal, never float.

    Raises CatalogErrors with one "$: ..." problem when the bytes are not UTF-8 JSON.
    """
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_float=Decimal, parse_constant=Decimal)
    except UnicodeDecodeError as e:
        problem = f"not UTF-8 (byte {e.start})"
    except json.JSONDecodeError as e:
        problem = f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
    except (ValueError, RecursionError) as e:  # an integer of over 4300 digits, absurd nesting
        problem = f"not a usable JSON document: {e}"
    raise CatalogErrors([f"$: {problem}"])


def parse_catalog(data: object) -> tuple[CatalogSpec, list[str]]:
    """Check a decoded catalog file and flatten it. Pure: no I/O, no database.

    Returns the spec and every problem found, each "json.path: what is wrong", in file order. The spec
    is complete only when there are no problems.
    """
    check, spec, categories = _Checker(), CatalogSpec(), set[str]()
    root = check.fields(data, "", ("categories",), ())
    for i, category in enumerate(check.items(root, "categories", "")):
        path = f"categories[{i}]"
        fields = check.fields(category, path, ("name",), ("subcategories", "media"))
        category_name, subcategories = check.name(fields, path, categories), set[str]()
        media = check.media(fields["media"], f"{path}.media") if fields and "media" in fields else None
        if category_name is not None and media is not None:
            spec.category_media[category_name] = media
        for j, sub in enumerate(check.items(fields, "subcategories", path)):
            sub_path = f"{path}.subcategories[{j}]"
            sub_fields = check.fields(sub, sub_path, ("name",), ("products",))
            sub_name, products = check.name(sub_fields, sub_path, subcategories), set[str]()
            for k, product in enumerate(check.items(sub_fields, "products", sub_path)):
                names = (category_name or "", sub_name or "")
                if (item := check.product(product, f"{sub_path}.products[{k}]", names, products)) is not None:
                    spec.products.append(item)
            if category_name is not None and sub_name is not None:
                spec.subcategories.append((category_name, sub_name))
        if category_name is not None:
            spec.categories.append(category_name)
    return spec, check.problems


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or '$'}: {message}")

    def fields(
        self, value: object, path: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, object] | None:
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return None
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in required and key not in optional:
                self.fail(prefix + key, "unknown field")
        for key in required:
            if key not in value:
                self.fail(prefix + key, "missing")
        return value

    def items(self, fields: dict[str, object] | None, key: str, path: str) -> list[object]:
        """The optional list fields[key]; [] when there is none (a required one is reported by fields())."""
        value = fields.get(key, []) if fields is not None else []
        if not isinstance(value, list):
            self.fail(f"{path}.{key}" if path else key, "must be a list")
            return []
        return value

    def text(self, value: object, path: str, limit: int, blank_ok: bool = False) -> str | None:
        if not isinstance(value, str):
            problem = "must be a string"
        elif not blank_ok and not value.strip():
            problem = "must not be empty"
        elif len(value) > limit:
            problem = f"longer than {limit} characters"
        elif not _storable(value):
            problem = "contains a NUL character or a lone surrogate"
        else:
            return value
        self.fail(path, problem)
        return None

    def name(self, fields: dict[str, object] | None, path: str, seen: set[str]) -> str | None:
        name = self.text(fields["name"], f"{path}.name", MAX_NAME) if fields and "name" in fields else None
        if name is not None and name != name.strip():
            self.fail(f"{path}.name", "must not start or end with spaces")
        elif name is not None and name in seen:
            self.fail(f"{path}.name", f"duplicate name {name!r} in the same list")
        elif name is not None:
            seen.add(name)
            return name
        return None

    def product(self, value: object, path: str, parents: tuple[str, str], seen: set[str]) -> ProductSpec | None:
        plain = isinstance(value, dict) and "variants" not in value
        fields = self.fields(value, path, ("name", "price", "kind") if plain else ("name", "kind"), _PRODUCT_FIELDS)
        if fields is None:
            return None
        before = len(self.problems)
        name = self.name(fields, path, seen)
        description = (
            self.text(fields["description"], f"{path}.description", MAX_TEXT, blank_ok=True)
            if "description" in fields
            else None
        )
        price = self.price(fields["price"], f"{path}.price") if plain and "price" in fields else None
        kind = fields.get("kind")
        if "kind" in fields and kind not in tuple(ProductKind):
            self.fail(f"{path}.kind", f"unknown kind {str(kind)[:40]!r}: {', '.join(ProductKind)}")
        variants: tuple[VariantSpec, ...] = ()
        if plain:
            stock, quantity = self.units(fields, path, kind)
            variants = (VariantSpec("", price, stock, quantity),) if price is not None and quantity is not None else ()
        else:
            for key in ("price", "stock", "quantity"):
                if key in fields:
                    self.fail(f"{path}.{key}", "a product with variants gives it for each variant")
            variants = self.variants(fields["variants"], f"{path}.variants", kind)
        media = self.media(fields["media"], f"{path}.media") if "media" in fields else None
        warranty = self.days(fields.get("warranty_days"), f"{path}.warranty_days")
        limit = self.limit(fields.get("limit"), f"{path}.limit")
        if len(self.problems) > before or name is None or not variants:
            return None
        return ProductSpec(path, *parents, name, description, ProductKind(str(kind)), variants, media, warranty, limit)

    def variants(self, value: object, path: str, kind: object) -> tuple[VariantSpec, ...]:
        """A product's variants: each with a name (unique), a price and its stock."""
        if not isinstance(value, list) or not value:
            self.fail(path, "must be a list of at least one variant")
            return ()
        checked, names, payloads = [], set[str](), dict[str, int]()
        for i, item in enumerate(value):
            variant = self.variant(item, f"{path}[{i}]", kind)
            if variant is not None and variant.name in names:
                self.fail(f"{path}[{i}].name", f"duplicate name {variant.name!r} in the same list")
            elif variant is not None:
                names.add(variant.name)
                checked.append(variant)
            for payload in variant.stock if variant is not None else ():
                if payload in payloads:  # one product's payloads are unique across its variants
                    self.fail(f"{path}[{i}].stock", f"a payload of variants[{payloads[payload]}] again")
                payloads.setdefault(payload, i)
        return tuple(checked)

    def variant(self, value: object, path: str, kind: object) -> VariantSpec | None:
        fields = self.fields(value, path, ("name", "price"), _VARIANT_FIELDS)
        if fields is None:
            return None
        before = len(self.problems)
        name = self.text(fields["name"], f"{path}.name", MAX_VARIANT_NAME) if "name" in fields else None
        if name is not None and name != name.strip():
            self.fail(f"{path}.name", "must not start or end with spaces")
        price = self.price(fields["price"], f"{path}.price") if "price" in fields else None
        stock, quantity = self.units(fields, path, kind)
        if len(self.problems) > before or name is None or price is None or quantity is None:
            return None
        return VariantSpec(name, price, stock, quantity)

    def units(self, fields: dict[str, object], path: str, kind: object) -> tuple[tuple[str, ...], int | None]:
        """The stock entries (digital) and the quantity (physical; None when it is not a valid one)."""
        stock = self.stock(fields["stock"], f"{path}.stock") if "stock" in fields else ()
        quantity = fields.get("quantity", 0)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= MAX_QUANTITY:
            self.fail(f"{path}.quantity", f"must be a whole number from 0 to {MAX_QUANTITY}")
            quantity = None
        if kind != ProductKind.digital and "stock" in fields:
            self.fail(f"{path}.stock", "only digital products have stock entries; give physical ones a quantity")
        if kind != ProductKind.physical and "quantity" in fields:
            self.fail(f"{path}.quantity", "only physical products have a quantity; list digital ones in stock")
        return stock, quantity

    def days(self, value: object, path: str) -> int | None:
        """A number of days, 1 to MAX_DAYS; None (absent or null) for none."""
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DAYS:
            self.fail(path, f"must be a whole number of days from 1 to {MAX_DAYS}")
            return None
        return value

    def limit(self, value: object, path: str) -> BuyerLimitSpec | None:
        """A per-buyer limit {"units", "days"}; None (absent or null) for none."""
        if value is None:
            return None
        fields = self.fields(value, path, _LIMIT_FIELDS, ())
        if fields is None or any(key not in fields for key in _LIMIT_FIELDS):
            return None
        units, days = fields["units"], self.days(fields["days"], f"{path}.days")
        if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units <= MAX_QUANTITY:
            self.fail(f"{path}.units", f"must be a whole number from 1 to {MAX_QUANTITY}")
            return None
        return None if days is None else BuyerLimitSpec(units, days)

    def media(self, value: object, path: str) -> Media | None:
        """A picture Telegram keeps: {"type": "photo" | "video", "file_id", "file_unique_id"}. The file_id works
        only for the bot that received the file."""
        fields = self.fields(value, path, _MEDIA_FIELDS, ())
        if fields is None or any(key not in fields for key in _MEDIA_FIELDS):
            return None
        kind = fields["type"]
        if kind not in tuple(MediaType):
            self.fail(f"{path}.type", f"unknown type {str(kind)[:40]!r}: photo or video")
        file_id = self.text(fields["file_id"], f"{path}.file_id", MAX_FILE_ID)
        unique_id = self.text(fields["file_unique_id"], f"{path}.file_unique_id", MAX_FILE_UNIQUE_ID)
        if kind not in tuple(MediaType) or file_id is None or unique_id is None:
            return None
        return Media(MediaType(str(kind)), file_id, unique_id)

    def price(self, value: object, path: str) -> int | None:
        """Minor units of a positive amount with at most 2 decimals, given as a decimal string or exact number."""
        if (isinstance(value, str) and _DECIMAL.fullmatch(value)) or type(value) in (int, Decimal):
            amount = Decimal(str(value))
        else:  # a float (the file was parsed without parse_float=Decimal), a bool, "12,50", "1e2", "NaN"...
            self.fail(path, "not a decimal")
            return None
        if not amount.is_finite():  # NaN and Infinity, which JSON parsed by load_catalog_json may contain
            self.fail(path, "must be a finite number")
        elif amount <= 0:
            self.fail(path, "must be positive")
        elif amount > MAX_PRICE:
            self.fail(path, f"must not exceed {MAX_PRICE}")
        else:
            try:
                return to_minor(amount)
            except ValueError:
                self.fail(path, "more than 2 decimals")
        return None

    def stock(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(path, "must be a list of strings")
            return ()
        first: dict[str, int] = {}
        for i, item in enumerate(value):
            payload = self.text(item, f"{path}[{i}]", MAX_TEXT)
            if payload is not None and payload in first:
                self.fail(f"{path}[{i}]", f"same payload as {path.rsplit('.', 1)[-1]}[{first[payload]}]")
            elif payload is not None:
                first[payload] = i
        return tuple(first)


def _storable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL, and a lone surrogate (JSON allows "\\ud800") cannot be UTF-8 encoded."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
