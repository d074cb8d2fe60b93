from aiogram import Router

from handlers import (
    account,
    admin,
    cart,
    checkout,
    fallback,
    find,
    order_messages,
    orders,
    privacy,
    prompts,
    refunds,
    reviews,
    shop,
    start,
    support,
    vouchers,
)


def build_router() -> Router:
    """A fresh router tree (tests build many). The fallback router goes last: it takes what nobody else did."""
    root = Router(name="root")
    # While a buyer's prompt waits for a message or an address, any button or command first ends the wait,
    # whichever router then takes it
    waits = (
        support.SupportForm,
        checkout.AddressForm,
        order_messages.BuyerReply,
        find.SearchForm,
        reviews.ReviewForm,
        vouchers.CodeForm,
        refunds.RefundForm,
    )
    root.include_routers(start.build(), prompts.leaving_router("buyer-prompts", *waits), admin.build())
    # A button press goes through the routers in this order, each checking its handlers' filters: the buttons
    # pressed most (browsing, the cart, checkout) come first. The cart's router takes every other CartCb, so
    # the vouchers' and checkout's (code, drop code, checkout) must come before it.
    root.include_routers(shop.build(), vouchers.build(), checkout.build(), cart.build())
    root.include_routers(support.build(), order_messages.build(), find.build(), reviews.build(), refunds.build())
    root.include_routers(privacy.build(), orders.build(), account.build(), fallback.build())
    return root
