"""A buyer's data requests: /mydata (everything the shop keeps about them, as JSON) and /deleteme (erase
their personal data).

Erasing keeps the orders with their items and amounts, which the merchant's accounts need, linked to the
buyer's Telegram id: that id is also what payments, bans and the timeout count of "Holding stock" hang on, and
it carries no name. What a person wrote, is called or where they live goes: the username (never stored again),
the shipping addresses, review texts (the stars stay), the cart. Messages about orders and to support are not
stored (they stay in Telegram); a draft address in the conversation is the handler's to drop.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import OrderStatus
from models.orders import Invoice, Order, OrderItem, Payment
from models.types import utcnow
from repositories.access import AccessRepo
from repositories.audit import AuditRepo
from repositories.cart import CartRepo
from repositories.orders import OrderRepo
from repositories.personal_data import PersonalDataRepo
from repositories.reviews import ReviewRepo
from repositories.users import UserRepo
from services.admin.dto import OrderBucket, bucket_of
from services.credit.account import credit_history
from services.money import format_amount, from_minor
from services.orders.lifecycle import buyer
from services.shop.shipping import order_shipping
from services.shop.users import KnownUsers
from services.wallet.goods import GoodsCipher


class OrderStillNeeds(Exception):
    """An order still needs the buyer: it waits for its payment (`shipping` False), or it is paid and waits to
    be shipped to their address (`shipping` True). Nothing is erased until it has moved on."""

    def __init__(self, order_id: int, *, shipping: bool) -> None:
        super().__init__(order_id, shipping)
        self.order_id = order_id
        self.shipping = shipping


@dataclass(frozen=True, slots=True)
class Erased:
    username: bool  # there was one
    addresses: int
    review_texts: int


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


class PrivacyService:
    def __init__(self, session: AsyncSession, goods: GoodsCipher | None, known: KnownUsers | None = None) -> None:
        """`known`: the bot's memory of recent users, which forgets the buyer once their erasure is committed."""
        self._session = session
        self._goods = goods
        self._known = known or KnownUsers(seconds=0)

    async def export(self, user_id: int) -> dict[str, Any]:
        """Everything stored about the buyer: profile, orders with items, shipping (the address opened),
        invoices and payments, reviews, cart, the channel and group memberships they bought, and store credit
        (balance and every ledger entry; kept when erasing, since the shop's accounts need it), as JSON-ready
        data (times in ISO 8601 UTC, money as decimal strings). Goods are left out: they are secrets, shown in
        the order itself. Read-only."""
        async with read_only(self._session):
            user = await UserRepo(self._session).get(user_id)
            assert user is not None, user_id
            repo = PersonalDataRepo(self._session)
            orders = await repo.orders(user_id)
            ids = [o.id for o, _ in orders]
            items, invoices = await repo.items(ids), await repo.invoices(ids)
            payments = await repo.payments([i.id for i in invoices])
            reviews = await ReviewRepo(self._session).of_user(user_id)
            cart = await repo.cart(user_id)
            credit = await credit_history(self._session, user_id, 0, size=None)
            memberships = await AccessRepo(self._session).of_user(user_id)
        return {
            "exported_at": utcnow().isoformat(),
            "profile": {
                "telegram_id": user.telegram_id,
                "username": user.username,
                "language": user.language,
                "first_seen_at": _when(user.created_at),
                "expired_orders_counted": user.timeout_count,
                "blocked_from_checkout": user.is_banned,
                "personal_data_erased_at": _when(user.erased_at),
            },
            "orders": [
                _order(o, items, invoices, payments) | ({"shipping": self._shipping(o)} if physical else {})
                for o, physical in orders
            ],
            "reviews": [
                {
                    "product": name,
                    "stars": r.stars,
                    "text": r.text,
                    "status": r.status.value,
                    "written_at": _when(r.created_at),
                }
                for r, name in reviews
            ],
            "cart": [{"product": name, "quantity": quantity} for name, quantity in cart],
            "memberships": [
                {
                    "chat": m.chat_title,
                    "state": m.state.value,
                    "until": _when(m.until),
                    "renewals": m.renewals,
                    "order_id": m.order_id,
                    "invited_at": _when(m.invited_at),
                    "ended_at": _when(m.ended_at),
                }
                for m in memberships
            ],
            "store_credit": {
                "balance": str(credit.balance),
                "entries": [
                    {
                        "kind": e.kind.value,
                        "amount": str(e.amount),
                        "balance_after": str(e.balance_after),
                        "order_id": e.order_id,
                        "reason": e.reason,
                        "at": _when(e.created_at),
                    }
                    for e in reversed(credit.lines)
                ],
            },
        }

    async def erase(self, user_id: int) -> Erased:
        """Erase the buyer's personal data in one transaction: their username (and it is never stored again),
        the shipping address of each of their orders, the text of each of their reviews (stars and approval
        stay), their cart. Orders keep items, amounts and their link to the Telegram id. One audit row,
        without the erased values.

        Raises OrderStillNeeds while one of their orders waits for payment or, paid, to be shipped. Erasing
        again erases what was written since.
        """
        async with self._session.begin():
            users, orders = UserRepo(self._session), OrderRepo(self._session)
            user = await users.get(user_id, lock=True)
            assert user is not None, user_id
            mine = await PersonalDataRepo(self._session).orders(user_id)
            for order, physical in mine:
                if order.status in OrderStatus.open() or bucket_of(order.status, physical) is OrderBucket.ready:
                    raise OrderStillNeeds(order.id, shipping=order.status not in OrderStatus.open())
            now = utcnow()
            addresses = [await orders.erase_address(order.id, now) for order, _ in mine if order.address_enc]
            texts = await ReviewRepo(self._session).erase_texts(user_id)
            erased = Erased(user.username is not None, sum(addresses), texts)
            await CartRepo(self._session).clear(user_id)
            await users.set_values(user_id, username=None, erased_at=now)
            await AuditRepo(self._session).record(
                str(buyer(user.telegram_id)),
                "user.erase",
                "user",
                user_id,
                after={"username": erased.username, "addresses": erased.addresses, "review_texts": texts},
            )
        self._known.forget(user_id)
        return erased

    def _shipping(self, order: Order) -> dict[str, Any]:
        shipping = order_shipping(order, self._goods)
        return {
            "option": shipping.option,
            "price": str(shipping.price),
            "address": shipping.address,
            "address_state": shipping.state.value,
            "address_erased_at": _when(shipping.erased_at),
        }


def _order(order: Order, items: list[OrderItem], invoices: list[Invoice], payments: list[Payment]) -> dict[str, Any]:
    invoice = next((i for i in invoices if i.order_id == order.id), None)
    return {
        "id": order.id,
        "status": order.status.value,
        "created_at": _when(order.created_at),
        "paid_at": _when(order.paid_at),
        "delivered_at": _when(order.delivered_at),
        "shipped_at": _when(order.shipped_at),
        "closed_at": _when(order.closed_at),
        "tracking": order.tracking,
        "total": str(from_minor(order.total_minor)),
        "currency": order.fiat_currency,
        "items": [
            {"product": i.product_name, "quantity": i.quantity, "unit_price": str(from_minor(i.unit_price_minor))}
            for i in items
            if i.order_id == order.id
        ],
        "invoice": None
        if invoice is None
        else {
            "coin": invoice.chain.upper(),
            "address": invoice.address,
            "amount_due": format_amount(invoice.chain, invoice.amount_due),
            "rate": str(invoice.rate),
            "expires_at": _when(invoice.expires_at),
            "payments": [
                {
                    "id": p.natural_id,
                    "amount": format_amount(invoice.chain, p.amount),
                    "confirmations": p.confirmations,
                    "status": p.status.value,
                }
                for p in payments
                if p.invoice_id == invoice.id
            ],
        },
    }
