"""OrderRepo.add writes a new order without a flush (one INSERT ... RETURNING) and leaves the object as a flush
left it: in the session, every column loaded as written, brought up to date by the conditional updates that move
the order (the credit-paid checkout pays that object)."""

from sqlalchemy import inspect

from models.enums import OrderStatus
from models.orders import Order, OrderItem
from models.shop import User
from models.types import utcnow
from repositories.orders import OrderRepo


async def test_a_new_order_is_in_the_session_as_written(sessions) -> None:
    now = utcnow()
    async with sessions.begin() as s:
        user = User(telegram_id=1, language="en")
        s.add(user)
        await s.flush()
        order = Order(user_id=user.id, total_minor=500, fiat_currency="USD", created_at=now, expires_at=now)
        item = OrderItem(product_name="Licence", quantity=2, unit_price_minor=250)
        repo = OrderRepo(s)
        assert await repo.add(order, [item]) is order
        state = inspect(order)
        assert state.persistent and not state.modified and state.unloaded == set(state.mapper.relationships.keys())
        assert await s.get(Order, order.id) is order  # in the identity map: no second object for the row
        # the defaults as written, read without a load (an async session cannot lazy-load)
        assert (order.status, order.problem, order.credit_minor, order.grace_used) == (
            OrderStatus.awaiting_payment,
            None,
            0,
            False,
        )
        assert item.order_id == order.id
        assert await repo.move(order.id, [OrderStatus.awaiting_payment], status=OrderStatus.expired, closed_at=now)
        assert order.status is OrderStatus.expired and order.closed_at == now  # the UPDATE refreshed it in place

    async with sessions() as s:
        written = await OrderRepo(s).get(order.id)
        assert written is not None
        assert (written.status, written.total_minor, written.created_at) == (OrderStatus.expired, 500, now)
        assert [(i.product_name, i.quantity) for i in await OrderRepo(s).items(order.id)] == [("Licence", 2)]
