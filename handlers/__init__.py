from aiogram import Router

from handlers import admin, cart, checkout, fallback, order_messages, orders, refunds, shop, start, support


def build_router() -> Router:
    """A fresh router tree (tests build many). The fallback router goes last: it takes what nobody else did."""
    root = Router(name="root")
    # support, checkout, order messages and refunds before the shop's routers: while one of them waits for a
    # message or an address, any button first ends the wait
    root.include_routers(start.build(), admin.build(), support.build(), checkout.build(), order_messages.build())
    root.include_routers(refunds.build())
    root.include_routers(shop.build(), cart.build(), orders.build(), fallback.build())
    return root
