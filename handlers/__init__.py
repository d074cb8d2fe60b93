from aiogram import Router

from handlers import admin, cart, fallback, orders, shop, start, support


def build_router() -> Router:
    """A fresh router tree (tests build many). The fallback router goes last: it takes what nobody else did."""
    root = Router(name="root")
    # support before the shop's routers: while it waits for a message, any button first ends the wait
    root.include_routers(
        start.build(), admin.build(), support.build(), shop.build(), cart.build(), orders.build(), fallback.build()
    )
    return root
