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
from handlers.gates import gate_presses


def build_routers() -> list[Router]:
    """Fresh routers for the dispatcher to include, in this order (tests build many); no router of our own
    above them, which would cost every update a visit. The fallback router goes last: it takes what nobody
    else did. Each router whose presses all carry a CallbackData is gated on their prefixes (handlers.gates),
    so a press skips the routers that could not take it."""
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
    routers = [start.build(), prompts.leaving_router("buyer-prompts", *waits), admin.build()]
    # A button press goes through the routers in this order, each checking its handlers' filters: the buttons
    # pressed most (browsing, the cart, checkout) come first. The cart's router takes every other CartCb, so
    # the vouchers' and checkout's (code, drop code, checkout) must come before it.
    routers += [shop.build(), vouchers.build(), checkout.build(), cart.build()]
    routers += [support.build(), order_messages.build(), find.build(), reviews.build(), refunds.build()]
    routers += [privacy.build(), orders.build(), account.build(), fallback.build()]
    for router in routers:
        gate_presses(router)
    return routers
