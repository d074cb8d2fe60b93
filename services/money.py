"""All money maths. Fiat is Decimal in code and integer minor units (cents) in the database; crypto is
integer base units (sat, litoshi, wei, lamports, a token's smallest unit) everywhere, whole coins only as text
or a node's Decimal. Nothing here touches float.

Crypto amounts are counted in a `Unit`: an Asset (a coin or a token), or a Chain, which stands for its own
coin.
"""

from decimal import ROUND_CEILING, Decimal, localcontext

from models.chains import CHAINS, Asset
from models.enums import Chain

Unit = Chain | Asset

CENTS = Decimal("0.01")
# Enough digits for any amount we hold exactly: wei totals have up to 78 digits (Numeric(78, 0)), and the
# default 28 would round them.
_PRECISION = 100


def from_minor(minor: int) -> Decimal:
    """Minor units (cents) as a fiat amount: 1250 -> Decimal("12.50")."""
    return (Decimal(minor) * CENTS).quantize(CENTS)


def to_minor(amount: Decimal) -> int:
    """A fiat amount in minor units (cents): Decimal("12.5") -> 1250. Exact: raises ValueError for an
    amount that is not a whole number of cents (more than 2 decimals, NaN, infinity)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if not amount.is_finite() or amount != amount.quantize(CENTS):
            raise ValueError(f"not a whole number of cents: {amount}")
        return int(amount / CENTS)


def format_fiat(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(CENTS)} {currency}"


def asset_of(unit: Unit) -> Asset:
    """The asset a unit counts in: a chain's own coin, or the asset itself."""
    return unit if isinstance(unit, Asset) else CHAINS[unit].native


def to_coins(unit: Unit, base_units: int) -> Decimal:
    """Base units as an exact Decimal of whole coins: 150000 sat -> Decimal("0.00150000")."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(base_units).scaleb(-asset_of(unit).decimals)


def to_base_units(unit: Unit, coins: Decimal) -> int:
    """Whole coins, as a node reports them (parsed as Decimal), in base units: Decimal("0.0015") BTC -> 150000.
    Exact: raises ValueError for an amount that is not a whole number of base units."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        units = coins.scaleb(asset_of(unit).decimals)
    if not units.is_finite() or units != units.to_integral_value():
        raise ValueError(f"not a whole number of base units: {coins}")
    return int(units)


def format_amount(unit: Unit, base_units: int) -> str:
    """Base units as a plain decimal in whole coins, trailing zeros stripped: 150000 sat -> "0.0015",
    10**8 sat -> "1", 0 -> "0". Never scientific notation. Raises ValueError on a negative amount."""
    if base_units < 0:
        raise ValueError(f"negative amount: {base_units}")
    decimals = asset_of(unit).decimals
    whole, frac = divmod(base_units, 10**decimals)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0")


def amount_due(unit: Unit, fiat_total: Decimal, rate: Decimal) -> int:
    """`fiat_total` at `rate` (fiat per whole coin or token) in base units: sat, litoshi, wei, lamports or the
    token's smallest unit (USDT: 10**-6).

    Always rounded up, so the buyer never pays less than the total: the result is the least whole number
    of base units worth at least `fiat_total`, or the asset's minimum payment (`Asset.min_payment`,
    SOL's rent-exempt minimum) when that is more, since the buyer could not pay a smaller amount at all.
    Raises ValueError for a total or rate that is not a positive finite number.
    """
    return max(base_units_worth(unit, fiat_total, rate), asset_of(unit).min_payment)


def base_units_worth(unit: Unit, fiat: Decimal, rate: Decimal) -> int:
    """The least whole number of base units worth at least `fiat` at `rate` (fiat per whole coin or token): an
    invoice's amount before the asset's minimum, a refund's amount on the fiat basis. Raises ValueError for
    an amount or rate that is not a positive finite number."""
    if not (fiat.is_finite() and rate.is_finite()) or fiat <= 0 or rate <= 0:
        raise ValueError("fiat and rate must be positive")
    with localcontext() as ctx:
        # Rounding the quotient up too means the ceiling below never lands under the exact value.
        ctx.prec, ctx.rounding = _PRECISION, ROUND_CEILING
        return int((fiat.scaleb(asset_of(unit).decimals) / rate).to_integral_value())


def paid_threshold(amount_due: int, tolerance_percent: Decimal) -> int:
    """The least that counts as paying `amount_due`: due × (1 − tolerance_percent / 100), rounded up, so a
    payment short by more than the tolerance never counts. 0 <= tolerance_percent < 100."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        share = (Decimal(100) - tolerance_percent) / Decimal(100)
        return int((Decimal(amount_due) * share).to_integral_value(rounding=ROUND_CEILING))


def to_fiat(unit: Unit, base_units: int, rate: Decimal) -> Decimal:
    """Base units (negative too, for a difference) in fiat at `rate` (fiat per coin), rounded to the cent,
    half to even."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return (to_coins(unit, base_units) * rate).quantize(CENTS)


def to_basis_points(percent: Decimal) -> int:
    """A percentage as an integer of basis points: Decimal("12.5") -> 1250. Exact: raises ValueError for one with
    more than two decimals, NaN or infinity."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if not percent.is_finite() or percent != percent.quantize(CENTS):
            raise ValueError(f"not a whole number of basis points: {percent}")
        return int(percent * 100)


def format_percent(basis_points: int) -> str:
    """Basis points as a percentage without trailing zeros: 1000 -> "10", 1250 -> "12.5", -200 -> "-2"."""
    sign = "-" if basis_points < 0 else ""
    whole, frac = divmod(abs(basis_points), 100)
    return f"{sign}{whole}" if not frac else f"{sign}{whole}.{frac:02d}".rstrip("0")
