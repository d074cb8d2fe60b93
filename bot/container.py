"""The long-lived objects of one bot process, and the per-update services built from them (SERVICES)."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from handlers.notices import NoticeRenderer
from l10n import Translator
from processing.access import AccessKeeper
from processing.observer import Observer
from processing.outbox import OutboxSender
from services.access import AccessKeeping
from services.admin.access import AdminAccessService
from services.admin.broadcast import AdminBroadcastService
from services.admin.credit import AdminCreditService
from services.admin.inventory import AdminInventoryService
from services.admin.loyalty import AdminLoyaltyService
from services.admin.media import AdminMediaService
from services.admin.orders import AdminOrdersService
from services.admin.payloads import AdminPayloadService
from services.admin.problems import AdminProblemsService
from services.admin.refunds import AdminRefundsService
from services.admin.reviews import AdminReviewsService
from services.admin.shipping import AdminShippingService
from services.admin.stats import AdminStatsService
from services.admin.stock import AdminStockService
from services.admin.texts import AdminTextsService
from services.admin.users import AdminUsersService
from services.admin.variants import AdminVariantService
from services.admin.vouchers import AdminVouchersService
from services.admin.wallet import AdminWalletService, ChainHoldings
from services.credit.account import CreditService
from services.delivery import OutboxDelivery
from services.orders.buyer import OrderService
from services.orders.messages import OrderMessageService
from services.orders.refunds import BuyerRefundService
from services.orders.warranty import WarrantyService
from services.payments.rates import RateService
from services.payments.watch import PaymentWatch
from services.ratelimit import MemoryRateLimits, RateLimits
from services.shop.cart import CartService
from services.shop.catalog import CatalogService
from services.shop.checkout import CheckoutService
from services.shop.loyalty import LoyaltyService
from services.shop.privacy import PrivacyService
from services.shop.reviews import ReviewService
from services.shop.shipping import ShippingService
from services.shop.support import SupportService
from services.shop.texts import ShopTextService
from services.shop.users import KnownUsers, UserService
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import Wallet


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    translator: Translator
    wallet: Wallet
    rates: RateService
    goods: GoodsCipher | None
    observer: Observer
    holdings: ChainHoldings | None = None  # token balances for the sweeping view; None: not asked
    limits: RateLimits = field(default_factory=MemoryRateLimits)  # the throttle's and the ban's buckets
    known_users: KnownUsers = field(default_factory=KnownUsers)  # KnownUsers(seconds=0) with several instances

    @property
    def payment_watch(self) -> PaymentWatch:
        """What handlers may ask of the observer: never the processing object itself."""
        return self.observer

    def outbox_sender(self, bot: Bot) -> OutboxSender:
        """The outbox job: the database side, the handlers' rendering and the bot wired together."""
        return OutboxSender(
            OutboxDelivery(self.sessions, self.goods, self.settings),
            bot,
            NoticeRenderer(self.translator, self.settings.default_language),
        )

    def access_keeper(self, bot: Bot) -> AccessKeeper:
        """The channel-access job: invite links, renewal invoices, removals."""
        keeping = AccessKeeping(self.sessions, self.settings, self.wallet, self.rates)
        return AccessKeeper(keeping, bot, self.settings.access_invite_hours)

    def services(self, session: AsyncSession, names: Iterable[str]) -> dict[str, object]:
        """The services named (SERVICES' keys: what handlers ask for by name), sharing the update's one session."""
        return {name: SERVICES[name](self, session) for name in names}


# Each service a handler may ask for by name, built on the update's session (bot.middlewares builds only
# the ones asked for).
SERVICES: dict[str, Callable[[Container, AsyncSession], object]] = {
    "users": lambda c, s: UserService(s, c.known_users),
    "catalog": lambda c, s: CatalogService(s),
    "cart": lambda c, s: CartService(s),
    "checkout": lambda c, s: CheckoutService(s, c.settings, c.wallet, c.rates, c.goods),
    "loyalty": lambda c, s: LoyaltyService(s, c.settings),
    "credit": lambda c, s: CreditService(s, c.settings),
    "shop_texts": lambda c, s: ShopTextService(s),
    "shipping": lambda c, s: ShippingService(s, c.goods),
    "orders": lambda c, s: OrderService(s, c.settings, c.wallet, c.goods),
    "order_messages": lambda c, s: OrderMessageService(s, c.settings),
    "refunds": lambda c, s: BuyerRefundService(s, c.settings, c.payment_watch),
    "warranty": lambda c, s: WarrantyService(s, c.settings),
    "admin_payloads": lambda c, s: AdminPayloadService(s, c.goods),
    "admin_inventory": lambda c, s: AdminInventoryService(s),
    "admin_stock": lambda c, s: AdminStockService(s, c.goods),
    "admin_variants": lambda c, s: AdminVariantService(s),
    "admin_users": lambda c, s: AdminUsersService(s, c.known_users),
    "admin_broadcast": lambda c, s: AdminBroadcastService(s),
    "admin_stats": lambda c, s: AdminStatsService(s, c.settings, c.goods),
    "admin_wallet": lambda c, s: AdminWalletService(s, c.wallet, c.holdings),
    "admin_orders": lambda c, s: AdminOrdersService(s, c.settings, c.goods),
    "admin_shipping": lambda c, s: AdminShippingService(s),
    "admin_vouchers": lambda c, s: AdminVouchersService(s),
    "admin_loyalty": lambda c, s: AdminLoyaltyService(s),
    "admin_credit": lambda c, s: AdminCreditService(s, c.settings),
    "admin_texts": lambda c, s: AdminTextsService(s),
    "admin_problems": lambda c, s: AdminProblemsService(s, c.settings),
    "admin_refunds": lambda c, s: AdminRefundsService(s, c.settings, c.rates, c.payment_watch),
    "support": lambda c, s: SupportService(s, c.settings),
    "reviews": lambda c, s: ReviewService(s),
    "privacy": lambda c, s: PrivacyService(s, c.goods, c.known_users),
    "admin_media": lambda c, s: AdminMediaService(s),
    "admin_reviews": lambda c, s: AdminReviewsService(s),
    "admin_access": lambda c, s: AdminAccessService(s),
}
