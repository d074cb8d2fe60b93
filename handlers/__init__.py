from aiogram import Router

from handlers import fallback, menu, start


def build_router() -> Router:
    """A fresh router tree (tests build many). The fallback router goes last: it takes what nobody else did."""
    root = Router(name="root")
    root.include_routers(start.build(), menu.build(), fallback.build())
    return root
