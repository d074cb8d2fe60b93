"""The admin panel. Access is checked once, here: the filters on this router gate every sub-router,
so no admin handler or callback can run for anyone outside ADMIN_IDS."""

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from config import Settings
from handlers import order_messages, support
from handlers.admin import (
    broadcast,
    credit,
    inventory,
    inventory_access,
    inventory_media,
    inventory_payload,
    inventory_remove,
    inventory_stock,
    inventory_variants,
    loyalty,
    menu,
    orders,
    problems,
    refunds,
    reviews,
    shipping,
    stats,
    texts,
    users,
    vouchers,
    wallet,
)


class IsAdmin(Filter):
    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        return event.from_user is not None and event.from_user.id in settings.admin_ids


def build() -> Router:
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    # support replies first: replying to a support copy answers the buyer even while a prompt waits for text;
    # then the prompts that any section's button leaves
    router.include_routers(menu.build(), support.build_admin(), order_messages.build_admin(), shipping.build())
    router.include_routers(vouchers.build(), loyalty.build(), texts.build(), credit.build())
    router.include_routers(orders.build(), problems.build(), refunds.build())
    # inventory_stock last of the inventory: its last handler takes what no inventory dialog step could use
    router.include_routers(
        inventory.build(),
        inventory_media.build(),
        inventory_payload.build(),
        inventory_access.build(),
        inventory_remove.build(),
        inventory_variants.build(),
        inventory_stock.build(),
    )
    router.include_routers(reviews.build(), users.build(), broadcast.build(), stats.build(), wallet.build())
    return router
