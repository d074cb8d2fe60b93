"""The admin's shipping options: "Standard 4.90", "Express 12.00". Buyers choose one at checkout when the cart
holds something physical; without any enabled, shipping is free. Options are disabled, never deleted:
orders keep the name and price they were placed with anyway. Every change is audited."""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from repositories.audit import AuditRepo
from repositories.shipping import ShippingRepo
from services.money import to_minor
from services.shop.catalog import NotFound
from services.shop.shipping import ShippingOptionView, option_view

NAME_LIMIT = 64  # the column's length
MAX_PRICE_MINOR = 100_000_000  # a million in the shop's currency: a typo, not a parcel
_LINE = re.compile(r"(?P<name>.+?)\s+(?P<price>[0-9]+(?:[.,][0-9]+)?)")
ENTITY = "shipping_option"


class OptionRefused(Exception):
    """Not "name price" with a name of at most NAME_LIMIT characters and a price from 0 with at most two
    decimals; or the name is taken."""


@dataclass(frozen=True, slots=True)
class OptionSpec:
    name: str
    price_minor: int


def parse_option(text: str) -> OptionSpec:
    """ "Express 12.00" (or "12,00") -> OptionSpec("Express", 1200). Raises OptionRefused."""
    match = _LINE.fullmatch(text.strip())
    if match is None:
        raise OptionRefused
    name = " ".join(match["name"].split())
    try:
        price_minor = to_minor(Decimal(match["price"].replace(",", ".")))
    except (InvalidOperation, ValueError):  # more than two decimals
        raise OptionRefused from None
    if len(name) > NAME_LIMIT or price_minor > MAX_PRICE_MINOR:
        raise OptionRefused
    return OptionSpec(name, price_minor)


class AdminShippingService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def options(self) -> list[ShippingOptionView]:
        """Every option, disabled ones too, cheapest first."""
        async with read_only(self._session):
            return [option_view(o) for o in await ShippingRepo(self._session).all(active_only=False)]

    async def option(self, option_id: int) -> ShippingOptionView:
        """Raises NotFound."""
        async with read_only(self._session):
            option = await ShippingRepo(self._session).get(option_id)
        if option is None:
            raise NotFound
        return option_view(option)

    async def create(self, actor: str, text: str) -> ShippingOptionView:
        """A new, enabled option from "name price". Audited. Raises OptionRefused (also for a taken name)."""
        spec = parse_option(text)
        try:
            async with self._session.begin():
                option = await ShippingRepo(self._session).add(spec.name, spec.price_minor)
                after = {"name": spec.name, "price_minor": spec.price_minor}
                await AuditRepo(self._session).record(actor, "shipping.create", ENTITY, option.id, after=after)
                return option_view(option)
        except IntegrityError:
            raise OptionRefused from None

    async def update(self, actor: str, option_id: int, text: str) -> ShippingOptionView:
        """New name and price from "name price"; orders placed before keep theirs. Audited. Raises
        OptionRefused (also for a name another option has), NotFound."""
        spec = parse_option(text)
        return await self._change(actor, option_id, "shipping.update", name=spec.name, price_minor=spec.price_minor)

    async def set_active(self, actor: str, option_id: int, active: bool) -> ShippingOptionView:
        """Offer the option to buyers again, or stop offering it (a buyer who chose it is asked again at
        checkout). Audited. Raises NotFound."""
        return await self._change(
            actor, option_id, "shipping.enable" if active else "shipping.disable", is_active=active
        )

    async def _change(self, actor: str, option_id: int, action: str, **values: str | int | bool) -> ShippingOptionView:
        try:
            async with self._session.begin():
                repo = ShippingRepo(self._session)
                option = await repo.get(option_id)
                if option is None:
                    raise NotFound
                before = {key: getattr(option, key) for key in values}
                await repo.set_values(option_id, **values)
                await AuditRepo(self._session).record(actor, action, ENTITY, option_id, before=before, after=values)
                option = await repo.get(option_id)
                assert option is not None  # read in the same transaction
                return option_view(option)
        except IntegrityError:
            raise OptionRefused from None
