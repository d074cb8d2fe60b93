"""Inventory: the chat a channel-access product opens and the days per unit ("@mychannel 30"). Before saving,
Telegram is asked what the bot may do there (getChat, getChatMember for the bot's own id); the service
decides whether that is enough, and a refusal changes nothing."""

from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ChatMemberAdministrator, Message

from config import Settings
from handlers.admin.inventory import InvAction, InvCb, Node, cancel_button, show_node
from handlers.admin.panel import actor, answer
from l10n import L10n
from services.admin.access import AccessRefused, AdminAccessService, ChatRights, parse_chat_line
from services.admin.inventory import AdminInventoryService
from services.shop.catalog import NotFound


class AccessForm(StatesGroup):
    chat = State()


async def ask(
    query: CallbackQuery, callback_data: InvCb, state: FSMContext, admin_access: AdminAccessService, l10n: L10n
) -> None:
    product_id = callback_data.id
    try:
        chat = await admin_access.chat_of(product_id)
    except NotFound:
        await answer(query, l10n("admin.inventory.gone"))
        return
    now = (
        l10n("admin.access.now", chat=escape(chat.title), chat_id=chat.chat_id, days=chat.days)
        if chat
        else l10n("admin.access.none")
    )
    await state.set_state(AccessForm.chat)
    await state.set_data({"id": product_id})
    await answer(query, now + "\n\n" + l10n("admin.access.ask"), cancel_button(Node.product, product_id, l10n))


async def got_chat(
    message: Message,
    state: FSMContext,
    bot: Bot,
    admin_access: AdminAccessService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
) -> None:
    product_id = int((await state.get_data())["id"])
    try:
        chat, days = parse_chat_line(message.text or "")
        saved = await admin_access.set_chat(actor(message), product_id, await rights_in(bot, chat), days)
    except AccessRefused as e:
        await message.answer(l10n(e.key, **e.params), reply_markup=cancel_button(Node.product, product_id, l10n))
        return
    except NotFound:
        await state.clear()
        await message.answer(l10n("admin.inventory.gone"))
        return
    await state.clear()
    await message.answer(l10n("admin.access.saved", chat=escape(saved.title), chat_id=saved.chat_id, days=saved.days))
    await show_node(message, Node.product, product_id, 0, admin_inventory, settings, l10n)


async def rights_in(bot: Bot, chat: str | int) -> ChatRights:
    """What Telegram says the bot may do in the chat. Raises AccessRefused when the bot cannot see it at all
    (no such chat, or the bot is not in it)."""
    try:
        full = await bot.get_chat(chat)
        member = await bot.get_chat_member(full.id, bot.id)
    except (TelegramBadRequest, TelegramForbiddenError) as e:
        raise AccessRefused("admin.access.refused_unseen", chat=escape(str(chat)), error=escape(e.message)) from None
    admin = member if isinstance(member, ChatMemberAdministrator) else None
    return ChatRights(
        chat_id=full.id,
        chat_type=full.type,
        title=full.title or full.username or str(full.id),
        status=member.status,
        can_invite_users=bool(admin and admin.can_invite_users),
        can_restrict_members=bool(admin and admin.can_restrict_members),
    )


def build() -> Router:
    router = Router(name="admin-inventory-access")
    router.callback_query.register(ask, InvCb.filter((F.action == InvAction.access) & (F.node == Node.product)))
    router.message.register(got_chat, AccessForm.chat, F.text, ~F.text.startswith("/"))
    return router
