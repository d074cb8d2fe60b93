"""Buyers, the catalog and its sellable units, carts, buyers' reviews, and the ways to ship."""

import unicodedata
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import Base, str_enum
from models.enums import MediaType, ProductKind, ReviewStatus, StockStatus
from models.types import utcnow


def search_key(text: str) -> str:
    """`text` as search compares it: Unicode case folding (Ü→ü, ß→ss) after NFKC, so composed and decomposed
    umlauts match. SQLite's lower() folds ASCII only and PostgreSQL's depends on the database's collation, so
    the application folds, and both databases compare the folded strings exactly."""
    return unicodedata.normalize("NFKC", text.casefold())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(unique=True)
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    timeout_count: Mapped[int] = mapped_column(default=0)
    last_timeout_at: Mapped[datetime | None]
    is_banned: Mapped[bool] = mapped_column(default=False)
    blocked_bot: Mapped[bool] = mapped_column(default=False)  # 403 from Telegram: skip in broadcasts
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # /deleteme: the personal data was erased then, and the username is never stored again.
    erased_at: Mapped[datetime | None]
    is_reseller: Mapped[bool] = mapped_column(default=False, server_default=false())  # pays products' reseller prices
    # Who invited them (a referral link, once, before their first order), and when that earned the referrer
    # their reward: the first time one of this buyer's orders was delivered.
    referred_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    referred_at: Mapped[datetime | None]
    referral_rewarded_at: Mapped[datetime | None]
    tier_notified_minor: Mapped[int] = mapped_column(default=0, server_default="0")  # the highest tier told of


class WithMedia:
    """A photo or short video Telegram keeps for the shop: the file_id sends it (it works for this bot only), the
    file_unique_id tells whether a message already shows it (the same for every bot and every send)."""

    media_type: Mapped[MediaType | None] = mapped_column(str_enum(MediaType))
    media_file_id: Mapped[str | None] = mapped_column(String(256))
    media_unique_id: Mapped[str | None] = mapped_column(String(64))


class Category(WithMedia, Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)


class FoldedName:
    """A name that search finds (repositories.catalog.CatalogRepo.search): search_key(name) is stored beside it,
    set whenever the ORM sets the name. A bulk UPDATE of names bypasses the ORM and must set it too."""

    name_folded: Mapped[str] = mapped_column(Text, default="")

    @validates("name")
    def _fold_name(self, _key: str, name: str) -> str:
        self.name_folded = search_key(name)
        return name


class Subcategory(Base):
    __tablename__ = "subcategories"
    __table_args__ = (UniqueConstraint("category_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    is_active: Mapped[bool] = mapped_column(default=True)


class Product(FoldedName, WithMedia, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("subcategory_id", "name"),
        CheckConstraint("(limit_units IS NULL) = (limit_days IS NULL)", name="limit_pair"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subcategory_id: Mapped[int] = mapped_column(ForeignKey("subcategories.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    # Prices and stock are its variants' (Variant): a product has at least one.
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind))
    is_active: Mapped[bool] = mapped_column(default=True)
    warranty_days: Mapped[int | None]  # the buyer may report a problem this long after paying
    # At most limit_units per buyer within any limit_days (their open and sold orders count); both or neither.
    limit_units: Mapped[int | None]
    limit_days: Mapped[int | None]
    # Only for creating a product with its variants in one go: never loaded (queries go through VariantRepo).
    variants: Mapped[list["Variant"]] = relationship(lazy="raise", passive_deletes=True)


class Variant(FoldedName, Base):
    """What a buyer chooses and pays for: "12 months" of a product, with its own price and its own stock. Every
    product has at least one; a plain product has exactly one, unnamed (name ""), which buyers never see as a
    choice. So a cart line, a held unit and an order line always name a variant, and there is one code path."""

    __tablename__ = "product_variants"
    __table_args__ = (
        UniqueConstraint("product_id", "name"),
        CheckConstraint("available_units >= 0", name="available_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")  # "": the plain product's only variant
    price_minor: Mapped[int]  # fiat in minor units (cents) of FIAT_CURRENCY
    reseller_price_minor: Mapped[int | None]  # what resellers pay instead, when set
    # False: retired by an admin while units of it were held or sold (those stay); buyers cannot choose it.
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Its stock units that are available (neither held nor sold), so availability is read in O(1). Only
    # repositories.stock.StockRepo moves it, by the rows each of its statements changed, in the same transaction;
    # `python -m bot stock check` compares it with the rows. 0 for an unlimited product's variants (no units).
    available_units: Mapped[int] = mapped_column(default=0, server_default="0")


class StockUnit(Base):
    """One sellable unit. Its status moves available -> reserved -> sold, each step a conditional UPDATE."""

    __tablename__ = "stock_units"
    __table_args__ = (
        UniqueConstraint("product_id", "payload_digest"),
        Index("ix_stock_units_product_id_status", "product_id", "status"),
        Index("ix_stock_units_variant_id_status", "variant_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The variant's product, never changed: product-wide counts and the digest's uniqueness need no join.
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("product_variants.id", ondelete="CASCADE"))
    status: Mapped[StockStatus] = mapped_column(str_enum(StockStatus), default=StockStatus.available)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    # Digital goods: AES-GCM ciphertext, and a keyed digest so imports can skip duplicates blind.
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sold_at: Mapped[datetime | None]


class ProductPayload(Base):
    """The one payload an unlimited product delivers to every buyer: a text, or a document's bytes with its
    name (GoodsCipher.seal_file), sealed under GOODS_KEY and bound to the product. Apart from `products` so
    that listing products never loads a document."""

    __tablename__ = "product_payloads"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    is_file: Mapped[bool]
    payload_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CartItem(Base):
    __tablename__ = "cart_items"
    __table_args__ = (UniqueConstraint("user_id", "variant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))  # the variant's
    variant_id: Mapped[int] = mapped_column(ForeignKey("product_variants.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """One buyer's review of one product they received: stars, optional text, and whether an admin approved it."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("user_id", "product_id"),
        Index("ix_reviews_product_id_status", "product_id", "status"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))  # the order received
    stars: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)  # NULL: none given, or erased by /deleteme
    status: Mapped[ReviewStatus] = mapped_column(str_enum(ReviewStatus), default=ReviewStatus.pending)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    moderated_at: Mapped[datetime | None]


class ShippingOption(Base):
    """A way to ship that the admin offers, e.g. "Standard" for 4.90. Disabled ones stay: an order keeps the
    name and price it was placed with anyway."""

    __tablename__ = "shipping_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    price_minor: Mapped[int]  # fiat in minor units of FIAT_CURRENCY; 0 is free
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
