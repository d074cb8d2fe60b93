"""The long-lived objects of one bot process, and the per-update services built from them."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from l10n import Translator
from processing.observer import Observer
from services.admin_broadcast import BroadcastService
from services.admin_inventory import InventoryAdminService
from services.admin_orders import AdminOrderService
from services.admin_problems import ProblemService
from services.admin_stats import SalesStatsService
from services.admin_stock import StockAdminService
from services.admin_users import UserAdminService
from services.cart import CartService
from services.catalog import CatalogService
from services.checkout import CheckoutService
from services.goods import GoodsCipher
from services.orders import OrderService
from services.rates import RateService
from services.support import SupportService
from services.users import UserService
from services.wallet import Wallet
from services.wallet_admin import WalletAdminService


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
            "admin_inventory": InventoryAdminService(session),
            "admin_stock": StockAdminService(session, self.goods),
            "admin_users": UserAdminService(session),
            "admin_broadcast": BroadcastService(session),
            "admin_stats": SalesStatsService(session, self.settings),
            "wallet_admin": WalletAdminService(session, self.wallet),
            "admin_orders": AdminOrderService(session, self.settings),
            "admin_problems": ProblemService(session, self.settings),
            "support": SupportService(session, self.settings),
        }
