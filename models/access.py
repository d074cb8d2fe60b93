"""Channel and group access sold as a product: which chat a product opens and for how long, and each buyer's
access to it, step by step (invite, renewal invoice, removal)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum
from models.enums import AccessState
from models.types import utcnow


class AccessChat(Base):
    """The chat a channel-access product opens, checked when the admin set it (the bot could invite and ban)."""

    __tablename__ = "access_chats"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    chat_id: Mapped[int]  # channels and supergroups: -100…, beyond 32 bits
    title: Mapped[str] = mapped_column(String(255))
    days: Mapped[int]  # each unit sold gives this many days
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatAccess(Base):
    """One buyer's membership of one chat, granted by a paid order and extended by each later one.

    Steps, each a conditional UPDATE on (state, the step's timestamp): inviting → active when the invite link
    was made and queued for the buyer (invite_claimed_until holds off other runs meanwhile); the renewal invoice
    once per period (renewal_sent_at, renewal_order_id; cleared when a payment extends `until`); active →
    removing → ended at `until` (remove_claimed_until likewise)."""

    __tablename__ = "chat_access"
    __table_args__ = (
        Index("ix_chat_access_state_until", "state", "until"),
        UniqueConstraint("order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    chat_id: Mapped[int]
    chat_title: Mapped[str] = mapped_column(String(255))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))  # the first paid one
    state: Mapped[AccessState] = mapped_column(str_enum(AccessState), default=AccessState.inviting)
    until: Mapped[datetime]
    renewals: Mapped[int] = mapped_column(default=0)  # paid orders that extended it
    invite_claimed_until: Mapped[datetime | None]
    invited_at: Mapped[datetime | None]
    renewal_sent_at: Mapped[datetime | None]
    renewal_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    remove_claimed_until: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
