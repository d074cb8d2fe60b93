from aiogram import Router

from handlers import (
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
        refunds.RefundForm,
    )
    root.include_routers(start.build(), prompts.leaving_router("buyer-prompts", *waits), admin.build())
    root.include_routers(support.build(), checkout.build(), order_messages.build(), find.build(), reviews.build())
    root.include_routers(refunds.build(), privacy.build(), shop.build(), cart.build(), orders.build(), fallback.build())
    return root
