"""What makes a voucher code usable by a buyer, and how a refusal is explained. Pure: callers load the
voucher and its uses (services.shop.prices, services.shop.checkout)."""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from models.enums import VoucherKind
from models.promotions import Voucher
from services.dto import VoucherProblem
from services.money import format_fiat, format_percent, from_minor, to_basis_points, to_minor
from services.pricing import BASIS, VoucherTerms

CODE_RE = re.compile(r"[A-Z0-9-]{3,32}")  # fits a deep link's payload (v_<code>) and the column
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read and typed
MAX_FIXED_MINOR = 100_000_000  # a million in the shop's currency: a typo, not a voucher


class VoucherRefused(Exception):
    """The code cannot be used (now, by this buyer, for this cart): `problem` says why."""

    def __init__(self, problem: VoucherProblem) -> None:
        super().__init__(problem.key, problem.code)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class VoucherInfo:
    """A voucher as buyers and admins see it."""

    id: int
    code: str
    kind: VoucherKind
    value: int  # basis points or minor units
    min_order: Decimal
    scope: str | None  # the product or category it is for
    valid_from: datetime | None
    last_day: datetime | None  # valid until the end of this day (UTC)
    max_uses: int | None
    per_buyer: int | None
    uses: int
    is_active: bool
    batch: str | None


def random_code(prefix: str = "", length: int = 10) -> str:
    """A fresh code nobody can guess: `length` characters from 32 (50 bits at 10)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def parse_value(text: str) -> tuple[VoucherKind, int]:
    """ "10%" -> (percent, 1000 basis points); "5" or "5.00" (or "5,00") -> (fixed, 500 minor units). A percentage
    is more than 0 and at most 100, an amount more than 0; both with at most two decimals. Raises ValueError."""
    text = text.strip().replace(",", ".")
    percent = text.endswith("%")
    try:
        number = Decimal(text.removesuffix("%").strip())
        value = to_basis_points(number) if percent else to_minor(number)
    except (InvalidOperation, ValueError):
        raise ValueError(text) from None
    if value <= 0 or value > (BASIS if percent else MAX_FIXED_MINOR):
        raise ValueError(text)
    return (VoucherKind.percent if percent else VoucherKind.fixed), value


def value_text(kind: VoucherKind, value: int, currency: str) -> str:
    """What a voucher takes off, as buyers read it: "10 %" or "5.00 USD"."""
    if kind is VoucherKind.percent:
        return f"{format_percent(value)} %"
    return format_fiat(from_minor(value), currency)


def normalized_code(text: str) -> str:
    """The code as stored: upper case, without surrounding spaces. Raises VoucherRefused ("voucher.malformed")."""
    code = text.strip().upper()
    if not CODE_RE.fullmatch(code):
        raise VoucherRefused(VoucherProblem("voucher.malformed"))
    return code


def last_day(valid_until: datetime | None) -> datetime | None:
    """`valid_until` is exclusive (midnight after the last day): the last day it is valid on."""
    return None if valid_until is None else valid_until - timedelta(microseconds=1)


def code_problem(
    voucher: Voucher | None, code: str, user_id: int, uses_by_buyer: int, now: datetime
) -> VoucherProblem | None:
    """Why this buyer cannot use the voucher at `now`, whatever their cart holds; None when they can. A reward
    voucher of another buyer looks exactly like a missing one."""
    if voucher is None or voucher.owner_id not in (None, user_id):
        return VoucherProblem("voucher.unknown", code)
    if not voucher.is_active:
        return VoucherProblem("voucher.inactive", code)
    if voucher.valid_from is not None and now < voucher.valid_from:
        return VoucherProblem("voucher.not_yet", code, date=voucher.valid_from)
    if voucher.valid_until is not None and now >= voucher.valid_until:
        return VoucherProblem("voucher.expired", code, date=last_day(voucher.valid_until))
    if voucher.max_uses is not None and voucher.uses >= voucher.max_uses:
        return VoucherProblem("voucher.used_up", code)
    if voucher.per_buyer is not None and uses_by_buyer >= voucher.per_buyer:
        return VoucherProblem("voucher.used_by_you", code)
    return None


def voucher_terms(voucher: Voucher) -> VoucherTerms:
    return VoucherTerms(
        voucher.code, voucher.kind, voucher.value, voucher.min_order_minor, voucher.product_id, voucher.category_id
    )
