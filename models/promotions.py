"""Promotions and loyalty: vouchers and their uses, the code a cart carries, spend tiers, and the settings
an admin edits in the bot (texts, flags)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum
from models.enums import VoucherKind
from models.types import utcnow


class Voucher(Base):
    """A code worth a percentage or a fixed amount off. `uses` counts the uses taken by orders that are not
    given back; it only moves with conditional updates, so `max_uses` holds under concurrent checkouts."""

    __tablename__ = "vouchers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # upper case
    kind: Mapped[VoucherKind] = mapped_column(str_enum(VoucherKind))
    value: Mapped[int]  # basis points (percent) or minor units (fixed)
    min_order_minor: Mapped[int] = mapped_column(default=0)
    # Scope: at most one of the two. Deleting the product or category deletes the voucher (it could never
    # apply again); orders keep the code and the discount they were placed with.
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]  # exclusive
    max_uses: Mapped[int | None]  # None: unlimited
    per_buyer: Mapped[int | None]  # None: unlimited
    uses: Mapped[int] = mapped_column(default=0)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))  # only for them
    batch: Mapped[str | None] = mapped_column(String(16), index=True)  # codes made together
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VoucherUse(Base):
    """One use of a voucher by one order; deleted when that order expires or is cancelled."""

    __tablename__ = "voucher_uses"
    __table_args__ = (Index("ix_voucher_uses_voucher_id_user_id", "voucher_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CartVoucher(Base):
    """The code a buyer entered for their cart; it is taken (or refused) at checkout."""

    __tablename__ = "cart_vouchers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id", ondelete="CASCADE"), index=True)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tier(Base):
    """A spend tier: buyers whose delivered orders add up to `threshold_minor` get `percent_bp` off (in one
    category, or everywhere)."""

    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    threshold_minor: Mapped[int] = mapped_column(unique=True)
    percent_bp: Mapped[int]
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShopSetting(Base):
    """What an admin sets in the bot rather than in .env: texts ("text.welcome.de"), flags, the referral
    reward. A missing row means the built-in default."""

    __tablename__ = "shop_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
