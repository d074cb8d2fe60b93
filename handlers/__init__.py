from aiogram import Router

from handlers import account, admin, cart, checkout, fallback, order_messages, orders, shop, start, support, vouchers


def build_router() -> Router:
    """A fresh router tree (tests build many). The fallback router goes last: it takes what nobody else did."""
    root = Router(name="root")
    # support, checkout, order messages and the voucher prompt before the shop's routers: while one of them
    # waits for a message, an address or a code, any button first ends the wait
    root.include_routers(start.build(), admin.build(), support.build(), vouchers.build(), checkout.build())
    root.include_routers(order_messages.build(), shop.build(), cart.build(), orders.build(), account.build())
    root.include_routers(fallback.build())
    return root
