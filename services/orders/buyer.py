"""The buyer's own orders: list, detail with invoice, goods and shipping, cancelling an unpaid one, and
changing where an unpaid one is shipped."""

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import OrderStatus
from models.orders import Invoice, Order
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.stock import StockRepo
from repositories.users import UserRepo
from services.dto import InvoiceView, OrderLine, OrderView, PaymentView
from services.money import from_minor
from services.orders.lifecycle import OrderLifecycle, buyer
from services.payments.uri import payment_uri
from services.pricing import order_breakdown, price_steps
from services.shop.catalog import NotFound
from services.shop.shipping import AddressesUnavailable, checked_address, order_shipping
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import Wallet
from services.wallet.secretbox import DecryptionError

log = logging.getLogger(__name__)
PAGE_SIZE = 8


class CannotCancel(Exception):
    """The order has moved on (paid, payment seen, expired, already cancelled)."""


class AddressLocked(Exception):
    """The order is paid (or closed): where it is shipped can no longer be changed."""


class OrderService:
    def __init__(self, session: AsyncSession, settings: Settings, wallet: Wallet, goods: GoodsCipher | None) -> None:
        self._session = session
        self._settings = settings
        self._wallet = wallet
        self._goods = goods

    async def list(self, user_id: int, page: int) -> tuple[list[Order], bool]:
        async with read_only(self._session):
            return await OrderRepo(self._session).of_user(user_id, page, PAGE_SIZE)

    async def view(self, order_id: int, user_id: int) -> OrderView:
        """The order as its buyer sees it. Raises NotFound for a missing order or someone else's.

        The address of an invoice the buyer may still pay is re-derived from the configured key before it
        is shown (raises services.wallet.merchant.AddressMismatch if it differs). Goods are decrypted only
        here, only for the buyer, and only once the order is paid; goods that no longer open (sealed
        before a key rotation) are marked unreadable rather than failing the whole view. The shipping
        address is decrypted only for its buyer too.
        """
        async with read_only(self._session):
            repo = OrderRepo(self._session)
            order = await repo.owned(order_id, user_id)
            if order is None:
                raise NotFound
            items = await repo.items(order.id)
            physical = await repo.is_physical(order.id)
            invoice = await repo.invoice(order.id)
            payments = await repo.payments(invoice.id) if invoice else []
            sealed = (
                await StockRepo(self._session).sold_payloads(order.id) if order.status in OrderStatus.sold() else []
            )
        if invoice is not None and order.status in OrderStatus.open():
            self._wallet.verify(invoice.chain, invoice.derivation_index, invoice.address)
        goods, unreadable = self._open(order.id, sealed)
        return OrderView(
            id=order.id,
            status=order.status,
            created_at=order.created_at,
            total=from_minor(order.total_minor),
            currency=order.fiat_currency,
            lines=[OrderLine(i.product_name, i.quantity, from_minor(i.unit_price_minor)) for i in items],
            invoice=self._invoice_view(invoice) if invoice else None,
            payments=[PaymentView(p.natural_id, p.amount, p.confirmations, p.block_height, p.status) for p in payments],
            goods=list(goods),
            shipping=order_shipping(order, self._goods) if physical else None,
            tracking=order.tracking if order.status is OrderStatus.shipped else None,
            price=price_steps(order_breakdown(order)),
            goods_unreadable=unreadable,
        )

    def _open(self, order_id: int, sealed: Sequence[tuple[int, bytes]]) -> tuple[Sequence[str], bool]:
        """(goods, False), or (nothing, True) when they do not open under the shop's current key."""
        if not sealed:
            return [], False
        try:
            if self._goods is not None:
                return [self._goods.open(blob, product) for product, blob in sealed], False
        except DecryptionError:
            pass
        log.error("order %s: its goods do not open without the GOODS_KEY they were sealed under", order_id)
        return [], True

    async def cancel(self, order_id: int, user_id: int) -> None:
        """The buyer cancels their unpaid order; its stock goes back at once, buyer and admins are told.
        Audited. Raises NotFound (not theirs or missing) or CannotCancel (moved on, e.g. a payment is seen).
        A second cancel raises CannotCancel and changes nothing."""
        async with self._session.begin():
            order = await OrderRepo(self._session).owned(order_id, user_id)
            if order is None:
                raise NotFound
            who = buyer(await UserRepo(self._session).telegram_id(user_id))
            if not await OrderLifecycle(self._session, self._settings).cancel(
                order, who, "cancelled by buyer", utcnow()
            ):
                raise CannotCancel

    async def change_address(self, order_id: int, user_id: int, text: str) -> None:
        """The buyer gives a new address for their unpaid order with physical items; it replaces the sealed
        one. Audited (not the address). Raises services.shop.shipping.AddressRefused (before anything else),
        NotFound (not theirs, missing, or nothing in it is shipped), AddressesUnavailable (no goods key),
        AddressLocked (paid or closed: the conditional update changed nothing)."""
        address = checked_address(text)
        async with self._session.begin():
            repo = OrderRepo(self._session)
            order = await repo.owned(order_id, user_id)
            if order is None or not await repo.is_physical(order_id):
                raise NotFound
            if self._goods is None:
                raise AddressesUnavailable
            if not await repo.set_address(order_id, self._goods.seal_address(address, order_id)):
                raise AddressLocked
            who = buyer(await UserRepo(self._session).telegram_id(user_id))
            after = {"status": order.status.value}
            await AuditRepo(self._session).record(str(who), "order.address", "order", order_id, after=after)

    def _invoice_view(self, invoice: Invoice) -> InvoiceView:
        return InvoiceView(
            chain=invoice.chain,
            address=invoice.address,
            amount_due=invoice.amount_due,
            rate=invoice.rate,
            rate_source=invoice.rate_source,
            rate_at=invoice.rate_at,
            expires_at=invoice.expires_at,
            uri=payment_uri(invoice.chain, invoice.address, invoice.amount_due, self._settings.eth_chain_id),
        )
