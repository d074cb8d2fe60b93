"""The buyer's own orders: list, detail with invoice, goods and shipping, the invoice messages they hold,
cancelling an unpaid one, and changing where an unpaid one is shipped."""

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import OrderStatus, PaymentStatus
from models.orders import Invoice, Order, OrderItem, Payment
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.reviews import ReviewRepo
from repositories.users import UserRepo
from services.dto import InvoiceView, NamedItem, OrderLine, OrderView, PaymentView
from services.money import from_minor, paid_threshold
from services.orders.goods import OrderGoods, Sealed, open_goods, sealed_goods
from services.orders.lifecycle import BUYER_MAY_CANCEL, OrderLifecycle, buyer
from services.orders.warranty import warranty_until
from services.outbox import close_invoice_messages
from services.payments.uri import payment_uri
from services.pricing import order_breakdown, price_steps
from services.shop.cart import return_to_cart
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
        address is decrypted only for its buyer too. Once the buyer has the goods, the products they have not
        reviewed yet are offered for review. A paid order whose products carry a warranty says until when.
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
            sealed = await sealed_goods(self._session, order.id) if order.status in OrderStatus.sold() else []
            reviewable = await ReviewRepo(self._session).reviewable(order.id, user_id)
            warranty = await warranty_until(self._session, order)
        if invoice is not None and order.status in OrderStatus.open():
            self._wallet.verify(invoice.chain, invoice.derivation_index, invoice.address)
        goods, unreadable = self._open(order.id, sealed)
        return order_view(
            order,
            items,
            invoice,
            self._settings,
            self._goods,
            physical=physical,
            payments=payments,
            goods=goods,
            unreadable=unreadable,
            reviewable=reviewable,
            warranty=warranty,
        )

    def _open(self, order_id: int, sealed: Sequence[Sealed]) -> tuple[OrderGoods, bool]:
        """(goods, False), or (nothing, True) when they do not open under the shop's current key."""
        if not sealed:
            return OrderGoods(), False
        try:
            if self._goods is not None:
                return open_goods(self._goods, sealed), False
        except DecryptionError:
            pass
        log.error("order %s: its goods do not open without the GOODS_KEY they were sealed under", order_id)
        return OrderGoods(), True

    async def can_cancel(self, order_id: int, user_id: int) -> bool:
        """Whether the buyer may cancel the order now (nothing paid to it seen yet). Raises NotFound (not
        theirs or missing). Read-only."""
        async with read_only(self._session):
            order = await OrderRepo(self._session).owned(order_id, user_id)
        if order is None:
            raise NotFound
        return order.status in BUYER_MAY_CANCEL

    async def cancel(self, order_id: int, user_id: int) -> None:
        """The buyer cancels their unpaid order; its stock goes back at once and its lines go back into their
        cart as far as the cart allows (see services.shop.cart.return_to_cart); buyer and admins are told.
        Audited. Raises NotFound (not theirs or missing) or CannotCancel (moved on, e.g. a payment is seen).
        A second cancel raises CannotCancel and changes nothing."""
        async with self._session.begin():
            repo = OrderRepo(self._session)
            order = await repo.owned(order_id, user_id)
            if order is None:
                raise NotFound
            who = buyer(await UserRepo(self._session).telegram_id(user_id))
            if not await OrderLifecycle(self._session, self._settings).cancel(
                order, who, "cancelled by buyer", utcnow()
            ):
                raise CannotCancel
            lines = [(i.variant_id, i.quantity) for i in await repo.items(order_id) if i.variant_id is not None]
            await return_to_cart(self._session, user_id, lines)

    async def invoice_shown(self, order_id: int, chat_id: int, message_id: int) -> None:
        """Remember an invoice message the buyer now holds, so that it is edited (through the outbox) once
        the order stops awaiting payment. If it already has (it moved while the message was on its way),
        the edit is queued at once. Missing orders are ignored."""
        async with self._session.begin():
            repo = OrderRepo(self._session)
            if await repo.add_invoice_message_if_unpaid(order_id, chat_id, message_id):  # nearly always: done
                return
            status = await repo.status_locked(order_id)  # waits for a transition in flight: none misses this message
            if status is None:
                return
            await repo.add_invoice_message(order_id, chat_id, message_id)
            if status is not OrderStatus.awaiting_payment:
                await close_invoice_messages(self._session, order_id, status)

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


def order_view(
    order: Order,
    items: Sequence[OrderItem],
    invoice: Invoice | None,
    settings: Settings,
    cipher: GoodsCipher | None,
    *,
    physical: bool,
    payments: Sequence[Payment] = (),
    goods: OrderGoods | None = None,
    unreadable: bool = False,
    reviewable: Sequence[tuple[int, str]] = (),
    warranty: datetime | None = None,
) -> OrderView:
    """The order as its buyer sees it, from its rows: its items, invoice and payments, its goods opened, whether
    anything in it ships, the products they may review and the end of its warranty."""
    goods = goods or OrderGoods()
    received = sum(p.amount for p in payments if p.status is not PaymentStatus.reorged)
    short = invoice is not None and received < paid_threshold(invoice.amount_due, settings.payment_tolerance_percent)
    return OrderView(
        id=order.id,
        status=order.status,
        created_at=order.created_at,
        total=from_minor(order.total_minor),
        currency=order.fiat_currency,
        lines=[OrderLine(i.product_name, i.quantity, from_minor(i.unit_price_minor)) for i in items],
        invoice=invoice_view(invoice, settings) if invoice else None,
        payments=[PaymentView(p.natural_id, p.amount, p.confirmations, p.block_height, p.status) for p in payments],
        goods=goods.texts,
        shipping=order_shipping(order, cipher) if physical else None,
        tracking=order.tracking if order.status is OrderStatus.shipped else None,
        price=price_steps(order_breakdown(order)),
        goods_unreadable=unreadable,
        received=received,
        remainder=invoice.amount_due - received if invoice is not None and short else 0,
        reviewable=tuple(NamedItem(product_id, name) for product_id, name in reviewable),
        files=tuple(goods.files),
        warranty_until=warranty,
        under_warranty=warranty is not None and utcnow() < warranty,
    )


def invoice_view(invoice: Invoice, settings: Settings) -> InvoiceView:
    """The invoice as buyers and admins see it, with its payment link."""
    return InvoiceView(
        chain=invoice.chain,
        unit=invoice.unit,
        address=invoice.address,
        amount_due=invoice.amount_due,
        rate=invoice.rate,
        rate_source=invoice.rate_source,
        rate_at=invoice.rate_at,
        expires_at=invoice.expires_at,
        uri=payment_uri(invoice.unit, invoice.address, invoice.amount_due, settings.eth_chain_id),
    )
