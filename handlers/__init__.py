from aiogram import Router

from handlers import admin, cart, fallback, find, orders, privacy, reviews, shop, start, support


def build_router() -> Router:
    """A fresh router tree (tests build many). The fallback router goes last: it takes what nobody else did."""
    root = Router(name="root")
    # support, find and reviews before the shop's routers: while one waits for a message, any button first ends
    # the wait
    root.include_routers(start.build(), admin.build(), support.build(), find.build(), reviews.build())
    root.include_routers(privacy.build(), shop.build(), cart.build(), orders.build(), fallback.build())
    return root
