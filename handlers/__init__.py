from aiogram import Router

from handlers import admin, cart, fallback, menu, orders, shop, start


def build_router() -> Router:
    """A fresh router tree (tests build many). The fallback router goes last: it takes what nobody else did."""
    root = Router(name="root")
    root.include_routers(start.build(), admin.build(), shop.build(), cart.build(), orders.build(), menu.build(),
                         fallback.build())
    return root
