"""A product's variants in the inventory: add one ("12 months 49.90"), and on a variant's own screen rename,
reprice, set its reseller price, add stock (the stock dialog of handlers.admin.inventory_stock) or delete it."""

from html import escape

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin import inventory_payload, inventory_remove, inventory_stock
from handlers.admin.inventory import InvAction, InvCb, Node, VarAction, VarCb, show_node
from handlers.admin.panel import actor, answer, rows
from handlers.keyboards import button
from handlers.render import alert
from l10n import L10n
from models.enums import ProductKind
from services.admin.dto import VariantAdmin
from services.admin.inventory import AdminInventoryService, InventoryRefused, NameTaken
from services.admin.variants import AdminVariantService, LastVariant
from services.money import format_fiat
from services.shop.catalog import NotFound


class VariantForm(StatesGroup):
    text = State()  # a name and price, a name, or a price: data {"op": VarAction, "id": ...}


PROMPTS = {
    VarAction.new: "ask_variant",
    VarAction.rename: "ask_rename",
    VarAction.price: "ask_price",
    VarAction.reseller_price: "ask_reseller_price",
}


def variant_view(v: VariantAdmin, settings: Settings, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    currency = settings.fiat_currency
    text = l10n(
        "admin.inventory.variant",
        product=escape(v.product_name),
        name=escape(v.name),
        price=format_fiat(v.price, currency),
        available=v.available,
        reserved=v.reserved,
        sold=v.sold,
    )
    if v.reseller_price is not None:
        text += "\n" + l10n("admin.inventory.reseller_line", price=format_fiat(v.reseller_price, currency))

    def act(action: VarAction, key: str) -> InlineKeyboardButton:
        return button(l10n(f"admin.inventory.{key}"), VarCb(action=action, id=v.id))

    # An unlimited product's variants differ only in price: its one payload is the product's.
    stock = {
        ProductKind.digital: [act(VarAction.stock, "add_stock")],
        ProductKind.physical: [act(VarAction.stock, "add_stock"), act(VarAction.recount, "set_count")],
        ProductKind.channel: [act(VarAction.stock, "add_stock"), act(VarAction.recount, "set_count")],
        ProductKind.file: [act(VarAction.file, "add_file")],
        ProductKind.unlimited: [],
    }
    return text, rows(
        stock[v.kind],
        [act(VarAction.price, "set_price"), act(VarAction.reseller_price, "set_reseller_price")],
        [act(VarAction.rename, "rename"), act(VarAction.delete, "delete")],
        [button(l10n("nav.back"), InvCb(action=InvAction.view, node=Node.product, id=v.product_id))],
    )


async def show_variant(
    event: Message | CallbackQuery,
    variant_id: int,
    admin_variants: AdminVariantService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer | None = None,
) -> None:
    """The variant's screen; the catalog root, with a notice, when it is gone (deleted, retired, forged)."""
    try:
        await answer(event, *variant_view(await admin_variants.variant(variant_id), settings, l10n))
    except NotFound:
        await show_node(event, Node.root, 0, 0, admin_inventory, settings, l10n, callback_answer)
        if callback_answer is not None:
            alert(callback_answer, l10n("admin.inventory.gone"))


async def view(
    query: CallbackQuery,
    callback_data: VarCb,
    state: FSMContext,
    admin_variants: AdminVariantService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()
    await show_variant(query, callback_data.id, admin_variants, admin_inventory, settings, l10n, callback_answer)


def _cancel(op: VarAction, target: int, l10n: L10n) -> InlineKeyboardMarkup:
    back = (
        InvCb(action=InvAction.view, node=Node.product, id=target)
        if op is VarAction.new
        else VarCb(action=VarAction.view, id=target)
    )
    return rows([button(l10n("admin.inventory.cancel"), back)])


async def ask(query: CallbackQuery, callback_data: VarCb, state: FSMContext, settings: Settings, l10n: L10n) -> None:
    """Start a dialog: the next text the admin sends answers it."""
    await state.set_state(VariantForm.text)
    await state.set_data({"op": callback_data.action.value, "id": callback_data.id})
    key = PROMPTS[callback_data.action]
    await answer(
        query,
        l10n(f"admin.inventory.{key}", currency=settings.fiat_currency),
        _cancel(callback_data.action, callback_data.id, l10n),
    )


async def got_text(
    message: Message,
    state: FSMContext,
    admin_variants: AdminVariantService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
) -> None:
    data, text, who = await state.get_data(), message.text or "", actor(message)
    op, target = VarAction(data["op"]), int(data["id"])
    try:
        if op is VarAction.new:
            variant_id = await admin_variants.add(who, target, text)
        elif op is VarAction.rename:
            variant_id = target
            await admin_variants.rename(who, target, text)
        elif op is VarAction.price:
            variant_id = target
            await admin_variants.set_price(who, target, text)
        else:
            variant_id = target
            await admin_variants.set_reseller_price(who, target, text)
    except InventoryRefused as e:
        refused = l10n("admin.inventory.refused", problem=escape(e.problem))
        await message.answer(refused, reply_markup=_cancel(op, target, l10n))
        return
    except NameTaken:
        await message.answer(l10n("admin.inventory.name_taken"), reply_markup=_cancel(op, target, l10n))
        return
    except NotFound:
        await state.clear()
        await message.answer(l10n("admin.inventory.gone"))
        await show_node(message, Node.root, 0, 0, admin_inventory, settings, l10n)
        return
    await state.clear()
    await show_variant(message, variant_id, admin_variants, admin_inventory, settings, l10n)


async def stock(
    query: CallbackQuery,
    callback_data: VarCb,
    state: FSMContext,
    admin_variants: AdminVariantService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """Add stock to the variant (inventory_stock's dialog), documents to a file product's (inventory_payload's),
    or set a physical or channel one's available count (inventory_remove's)."""
    try:
        v = await admin_variants.variant(callback_data.id)
    except NotFound:
        await show_variant(query, callback_data.id, admin_variants, admin_inventory, settings, l10n, callback_answer)
        return
    name = f"{v.product_name} · {v.name}"
    if callback_data.action is VarAction.stock and v.kind in (ProductKind.digital, *ProductKind.counted()):
        await inventory_stock.begin(query, state, v.product_id, name, v.kind, v.id, l10n)
    elif callback_data.action is VarAction.file and v.kind is ProductKind.file:
        await inventory_payload.begin(query, state, v.product_id, v.kind, v.id, l10n)
    elif callback_data.action is VarAction.recount and v.kind in ProductKind.counted():
        await inventory_remove.begin(query, state, v, v.product_id, name, v.id, l10n)
    else:  # its kind changed (an import, the kind button) since the screen was shown
        alert(callback_answer, l10n("admin.inventory.gone"))
        await show_variant(query, v.id, admin_variants, admin_inventory, settings, l10n, callback_answer)


async def ask_delete(
    query: CallbackQuery,
    callback_data: VarCb,
    state: FSMContext,
    admin_variants: AdminVariantService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()
    try:
        v = await admin_variants.variant(callback_data.id)
    except NotFound:
        await show_variant(query, callback_data.id, admin_variants, admin_inventory, settings, l10n, callback_answer)
        return
    await answer(
        query,
        l10n("admin.inventory.delete_variant", name=escape(v.name), available=v.available),
        rows(
            [button(l10n("admin.inventory.delete_confirm"), VarCb(action=VarAction.purge, id=v.id))],
            [button(l10n("admin.inventory.cancel"), VarCb(action=VarAction.view, id=v.id))],
        ),
    )


async def delete(
    query: CallbackQuery,
    callback_data: VarCb,
    admin_variants: AdminVariantService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        removed = await admin_variants.delete(actor(query), callback_data.id)
    except LastVariant:
        alert(callback_answer, l10n("admin.inventory.last_variant"))
        await show_variant(query, callback_data.id, admin_variants, admin_inventory, settings, l10n, callback_answer)
        return
    except NotFound:
        await show_variant(query, callback_data.id, admin_variants, admin_inventory, settings, l10n, callback_answer)
        return
    callback_answer.text = l10n(
        "admin.inventory.variant_deleted" if removed.deleted else "admin.inventory.variant_retired"
    )
    await show_node(query, Node.product, removed.product_id, 0, admin_inventory, settings, l10n, callback_answer)


def build() -> Router:
    router = Router(name="admin-inventory-variants")
    router.callback_query.register(view, VarCb.filter(F.action == VarAction.view))
    router.callback_query.register(ask, VarCb.filter(F.action.in_(set(PROMPTS))))
    stock_actions = {VarAction.stock, VarAction.file, VarAction.recount}
    router.callback_query.register(stock, VarCb.filter(F.action.in_(stock_actions)))
    router.callback_query.register(ask_delete, VarCb.filter(F.action == VarAction.delete))
    router.callback_query.register(delete, VarCb.filter(F.action == VarAction.purge))
    router.message.register(got_text, VariantForm.text, F.text, ~F.text.startswith("/"))
    return router
