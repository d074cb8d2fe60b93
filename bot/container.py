"""The long-lived objects of one bot process, and the per-update services built from them."""

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

    def services(self, session: AsyncSession) -> dict[str, object]:
        """The services a handler may ask for by name, all sharing the update's one session."""
        return {
            "users": UserService(session, self.known_users),
            "catalog": CatalogService(session),
            "cart": CartService(session),
            "checkout": CheckoutService(session, self.settings, self.wallet, self.rates, self.goods),
            "loyalty": LoyaltyService(session, self.settings),
            "credit": CreditService(session, self.settings),
            "shop_texts": ShopTextService(session),
            "shipping": ShippingService(session, self.goods),
            "orders": OrderService(session, self.settings, self.wallet, self.goods),
            "order_messages": OrderMessageService(session, self.settings),
            "refunds": BuyerRefundService(session, self.settings, self.payment_watch),
            "warranty": WarrantyService(session, self.settings),
            "admin_payloads": AdminPayloadService(session, self.goods),
            "admin_inventory": AdminInventoryService(session),
            "admin_stock": AdminStockService(session, self.goods),
            "admin_variants": AdminVariantService(session),
            "admin_users": AdminUsersService(session, self.known_users),
            "admin_broadcast": AdminBroadcastService(session),
            "admin_stats": AdminStatsService(session, self.settings, self.goods),
            "admin_wallet": AdminWalletService(session, self.wallet, self.holdings),
            "admin_orders": AdminOrdersService(session, self.settings, self.goods),
            "admin_shipping": AdminShippingService(session),
            "admin_vouchers": AdminVouchersService(session),
            "admin_loyalty": AdminLoyaltyService(session),
            "admin_credit": AdminCreditService(session, self.settings),
            "admin_texts": AdminTextsService(session),
            "admin_problems": AdminProblemsService(session, self.settings),
            "admin_refunds": AdminRefundsService(session, self.settings, self.rates, self.payment_watch),
            "support": SupportService(session, self.settings),
            "reviews": ReviewService(session),
            "privacy": PrivacyService(session, self.goods, self.known_users),
            "admin_media": AdminMediaService(session),
            "admin_reviews": AdminReviewsService(session),
            "admin_access": AdminAccessService(session),
        }
