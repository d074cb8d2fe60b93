"""Shipping for a buyer: the options to choose from, and the address they type, checked and sealed.

An address is sealed the moment it is typed (services.wallet.goods, under GOODS_KEY) into a draft bound to
the buyer, which their conversation state keeps until checkout seals it again for the order. In plain text
it is shown only to that buyer and to admins; ADDRESS_RETENTION_DAYS after the order is shipped or closed it
is erased (services.orders.retention).
"""

import base64
import binascii
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.orders import Order
from models.shop import ShippingOption
from repositories.orders import OrderRepo
from repositories.shipping import ShippingRepo
from services.dto import AddressState, OrderShipping
from services.money import from_minor
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsCipher
from services.wallet.secretbox import DecryptionError

ADDRESS_LIMIT = 300  # characters: a postal address, and eight of them fit one "ready for shipment" message


class AddressRefused(Exception):
    """Not an address: empty, longer than ADDRESS_LIMIT, a command, or characters that cannot be stored."""


class AddressesUnavailable(Exception):
    """Neither GOODS_KEY nor WALLET_KEY is set, so no address can be sealed (or read)."""


@dataclass(frozen=True, slots=True)
class ShippingOptionView:
    id: int
    name: str
    price: Decimal
    is_active: bool


def option_view(option: ShippingOption) -> ShippingOptionView:
    return ShippingOptionView(option.id, option.name, from_minor(option.price_minor), option.is_active)


def checked_address(text: str) -> str:
    """The address without surrounding blanks. Raises AddressRefused."""
    address = text.strip()
    if not address or len(address) > ADDRESS_LIMIT or address.startswith("/") or "\x00" in address:
        raise AddressRefused
    try:
        address.encode()
    except UnicodeEncodeError:  # a lone surrogate
        raise AddressRefused from None
    return address


def order_shipping(order: Order, goods: GoodsCipher | None) -> OrderShipping:
    """The order's shipping, its address opened (only call this for its buyer or an admin)."""
    option, price = order.shipping_name, from_minor(order.shipping_minor)
    if order.address_enc is None:
        state = AddressState.erased if order.address_erased_at else AddressState.missing
        return OrderShipping(option, price, None, state, order.address_erased_at)
    try:
        if goods is None:
            raise DecryptionError("no GOODS_KEY or WALLET_KEY")
        address = goods.open_address(order.address_enc, order.id)
    except DecryptionError:
        return OrderShipping(option, price, None, AddressState.unreadable, None)
    return OrderShipping(option, price, address, AddressState.given, None)


def open_draft(goods: GoodsCipher | None, user_id: int, draft: str | None) -> str | None:
    """The address in a draft made by ShippingService.draft for this buyer; None for none, or for one that
    does not open (another buyer's, another key, garbage)."""
    if goods is None or not draft:
        return None
    try:
        return goods.open_address_draft(base64.urlsafe_b64decode(draft.encode()), user_id)
    except (DecryptionError, binascii.Error, ValueError):
        return None


class ShippingService:
    def __init__(self, session: AsyncSession, goods: GoodsCipher | None) -> None:
        self._session = session
        self._goods = goods

    async def options(self) -> list[ShippingOptionView]:
        """The options buyers may choose now, cheapest first. None offered: shipping is free."""
        async with read_only(self._session):
            return [option_view(o) for o in await ShippingRepo(self._session).all(active_only=True)]

    async def option(self, option_id: int) -> ShippingOptionView:
        """One option buyers may choose now. Raises NotFound for a missing or disabled one."""
        async with read_only(self._session):
            option = await ShippingRepo(self._session).get(option_id)
        if option is None or not option.is_active:
            raise NotFound
        return option_view(option)

    def draft(self, user_id: int, text: str) -> str:
        """The typed address, checked and sealed for this buyer, as text for their conversation state.
        Raises AddressRefused, AddressesUnavailable."""
        if self._goods is None:
            raise AddressesUnavailable
        sealed = self._goods.seal_address_draft(checked_address(text), user_id)
        return base64.urlsafe_b64encode(sealed).decode()

    def read_draft(self, user_id: int, draft: str | None) -> str | None:
        """The address in this buyer's draft, or None (see open_draft)."""
        return open_draft(self._goods, user_id, draft)

    async def previous(self, user_id: int, draft: str | None) -> str | None:
        """The address to offer the buyer again: the one of their draft, else the one of their newest order
        that still has one; None when there is neither."""
        typed = self.read_draft(user_id, draft)
        if typed is not None or self._goods is None:
            return typed
        async with read_only(self._session):
            latest = await OrderRepo(self._session).latest_address(user_id)
        if latest is None:
            return None
        try:
            return self._goods.open_address(latest[1], latest[0])
        except DecryptionError:
            return None

    async def reuse_previous(self, user_id: int, draft: str | None) -> str | None:
        """A draft of the address `previous` offers; None when there is nothing to offer."""
        if self.read_draft(user_id, draft) is not None:
            return draft
        address = await self.previous(user_id, None)
        return None if address is None else self.draft(user_id, address)
