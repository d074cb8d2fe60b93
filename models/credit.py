"""Store credit: the append-only ledger of each buyer's entries, and the balance they add up to."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum
from models.enums import CreditKind
from models.types import utcnow


class CreditBalance(Base):
    """A buyer's credit now, always the sum of their entries. It lives in a row of its own so that every entry
    is appended by one conditional UPDATE of it (balance + amount >= 0) in the entry's transaction: SQLite has
    no SELECT ... FOR UPDATE, and this write is what serialises two spends of the same credit on both
    databases. The CHECK constraint is the last line of defence."""

    __tablename__ = "credit_balances"
    __table_args__ = (CheckConstraint("balance_minor >= 0", name="not_negative"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    balance_minor: Mapped[int] = mapped_column(default=0)  # minor units of FIAT_CURRENCY
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditEntry(Base):
    """One change of a buyer's credit. Rows are only ever inserted: a mistake is corrected by another entry.
    `key` makes each entry happen once (a replay finds it and changes nothing). The balances before and after
    chain each buyer's entries: before = the previous entry's after, after = before + amount."""

    __tablename__ = "credit_entries"
    __table_args__ = (Index("ix_credit_entries_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[CreditKind] = mapped_column(str_enum(CreditKind))
    amount_minor: Mapped[int]  # signed: positive adds credit
    balance_before_minor: Mapped[int]
    balance_after_minor: Mapped[int]
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)  # an admin adjustment's, required there
    actor: Mapped[str] = mapped_column(String(64))  # as the audit log writes it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
