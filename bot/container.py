"""The long-lived objects of one bot process, and the per-update services built from them."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from l10n import Translator
from processing.observer import Observer
from services.cart import CartService
from services.catalog import CatalogService
from services.checkout import CheckoutService
from services.goods import GoodsCipher
from services.orders import OrderService
from services.rates import RateService
from services.users import UserService
from services.wallet import Wallet


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    translator: Translator
    wallet: Wallet
    rates: RateService
    goods: GoodsCipher | None
    observer: Observer

    def services(self, session: AsyncSession) -> dict[str, object]:
        """The services a handler may ask for by name, all sharing the update's one session."""
        return {
            "users": UserService(session),
            "catalog": CatalogService(session),
            "cart": CartService(session),
            "checkout": CheckoutService(session, self.settings, self.wallet, self.rates),
            "orders": OrderService(session, self.settings, self.wallet, self.goods),
        }
