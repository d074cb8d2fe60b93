from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Enum, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase

from models.types import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def str_enum(enum: type[StrEnum]) -> Enum:
    """Enums are stored as plain strings so later migrations can add values without ALTER TYPE."""
    return Enum(
        enum, native_enum=False, create_constraint=False, length=24, values_callable=lambda e: [m.value for m in e]
    )


# 64-bit everywhere (Telegram ids exceed 32 bits); SQLite needs plain INTEGER for rowid primary keys.
BIGINT = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), int: BIGINT}
