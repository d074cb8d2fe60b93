"""Inventory: the whole catalog tree (inactive nodes too) with stock per product, and the dialogs that
create, rename, (de)activate, price and describe. Every dialog has a Cancel button; /admin and /start leave.
Stock in: handlers.admin.inventory_stock; stock out and deletion: handlers.admin.inventory_remove; pictures:
handlers.admin.inventory_media."""

from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import actor, answer, rows
from handlers.callbacks import Id, Page
from handlers.keyboards import before_last_row, button, paged
from handlers.kinds import shown_price
from handlers.render import alert
from l10n import L10n
from models.enums import ProductKind
from services.admin.inventory import (
    AdminInventoryService,
    InventoryRefused,
    Level,
    Listing,
    NameTaken,
    ProductAdmin,
    ProductDraft,
    SeveralVariants,
    checked_description,
    checked_name,
    checked_price,
)
from services.dto import NamedItem
from services.money import format_fiat
from services.shop.catalog import NotFound


class Node(StrEnum):
    root = "r"
    category = "c"
    subcategory = "s"
    product = "p"


class InvAction(StrEnum):
    view = "v"
    new = "n"
    rename = "r"
    deactivate = "o"
    activate = "a"
    price = "p"
    reseller_price = "g"
    describe = "d"
    stock = "k"
    unstock = "u"  # remove chosen digital units
    recount = "q"  # set a physical product's available count
    delete = "e"  # what deleting would take with it, and Confirm
    media = "m"  # attach a photo or video (categories and products)
    access = "h"  # the chat a channel-access product opens, and its days (handlers.admin.inventory_access)
    unmedia = "w"  # remove it
    purge = "z"  # delete, confirmed
    warranty = "t"  # days of warranty
    limit = "l"  # units per buyer per period
    payload = "f"  # a file product's documents, an unlimited product's payload (handlers.admin.inventory_payload)
    kind = "b"  # offer the kinds to change to
    confirm = "y"
    cancel = "x"


class InvCb(CallbackData, prefix="ai"):
    action: InvAction
    node: Node = Node.root
    id: Id = 0
    page: Page = 0


class VarAction(StrEnum):
    view = "v"
    new = "n"  # the id is the product's
    rename = "r"
    price = "p"
    reseller_price = "g"
    stock = "k"
    recount = "q"  # set a physical or channel variant's available count
    file = "f"  # add a document to a file product's variant
    delete = "e"  # what deleting would do, and Confirm
    purge = "z"  # delete, confirmed


class VarCb(CallbackData, prefix="aiv"):
    """A product's variant in the inventory (handlers.admin.inventory_variants)."""

    action: VarAction
    id: Id  # the variant's; the product's for `new`


class KindCb(CallbackData, prefix="aik"):
    kind: ProductKind
    id: Id = 0  # the product whose kind changes; 0: the new product of the creation dialog


class InventoryForm(StatesGroup):
    name = State()
    description = State()
    price = State()
    kind = State()
    stock = State()
    quantity = State()
    confirm = State()
    unstock = State()
    recount = State()
    confirm_removal = State()
    warranty = State()
    limit = State()


CHILD = {Node.root: Node.category, Node.category: Node.subcategory, Node.subcategory: Node.product}
PARENT = {Node.category: Node.root, Node.subcategory: Node.category, Node.product: Node.subcategory}


def cancel_button(node: Node, node_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    return rows([button(l10n("admin.inventory.cancel"), InvCb(action=InvAction.cancel, node=node, id=node_id))])


def listing_view(node: Node, listing: Listing, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    child, here = CHILD[node], listing.node
    items = [NamedItem(i.id, i.name if i.is_active else f"🚫 {i.name}") for i in listing.items]
    back: CallbackData = (
        AdminCb(section=AdminSection.home)
        if here is None
        else InvCb(action=InvAction.view, node=PARENT[node], id=listing.parent_id)
    )
    markup = paged(
        items,
        listing.page,
        listing.has_next,
        lambda i: InvCb(action=InvAction.view, node=child, id=i),
        lambda p: InvCb(action=InvAction.view, node=node, id=listing.node.id if listing.node else 0, page=p),
        back,
        l10n,
    )
    new = [
        button(
            l10n(f"admin.inventory.new_{child.name}"), InvCb(action=InvAction.new, node=node, id=here.id if here else 0)
        )
    ]
    if here is None:
        return l10n("admin.inventory.root"), before_last_row(markup, new)
    toggle = InvAction.deactivate if here.is_active else InvAction.activate
    text = l10n(
        f"admin.inventory.{node.name}",
        name=escape(here.name),
        status=l10n(f"admin.inventory.{'active' if here.is_active else 'inactive'}"),
    )
    picture = InvCb(action=InvAction.media, node=node, id=here.id)
    return text, before_last_row(
        markup,
        new,
        [
            button(l10n("admin.inventory.rename"), InvCb(action=InvAction.rename, node=node, id=here.id)),
            button(l10n(f"admin.inventory.{toggle.name}"), InvCb(action=toggle, node=node, id=here.id)),
        ],
        [button(l10n("admin.inventory.media"), picture)] if node is Node.category else [],
        [button(l10n("admin.inventory.delete"), InvCb(action=InvAction.delete, node=node, id=here.id))],
    )


def product_view(card: ProductAdmin, settings: Settings, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    """A product: a plain one as before variants; one with several variants lists them, each a button to its
    own screen (price, stock), and its own price and stock buttons go."""
    currency = settings.fiat_currency
    text = l10n(
        "admin.inventory.product",
        name=escape(card.name),
        kind=l10n(f"admin.inventory.kind_{card.kind}"),
        status=l10n(f"admin.inventory.{'active' if card.is_active else 'inactive'}"),
        price=shown_price(card.price, not card.plain and len({v.price for v in card.variants}) > 1, currency, l10n),
        description=escape(card.description) or "—",
        available=card.available,
        reserved=card.reserved,
        sold=card.sold,
    )
    if card.reseller_price is not None:
        text += "\n" + l10n("admin.inventory.reseller_line", price=format_fiat(card.reseller_price, currency))
    named = [v for v in card.variants if v.name]
    if named:
        text += "\n\n" + l10n("admin.inventory.variants_title")
    for v in named:
        text += "\n" + l10n(
            "admin.inventory.variant_line",
            name=escape(v.name),
            price=format_fiat(v.price, currency),
            available=v.available,
            reserved=v.reserved,
            sold=v.sold,
        )
    if terms := terms_text(card, l10n):
        text += "\n" + terms
    toggle = InvAction.deactivate if card.is_active else InvAction.activate

    def act(action: InvAction, key: str) -> InlineKeyboardButton:
        return button(l10n(f"admin.inventory.{key}"), InvCb(action=action, node=Node.product, id=card.id))

    stock = {
        ProductKind.digital: [act(InvAction.stock, "add_stock"), act(InvAction.unstock, "remove_units")],
        ProductKind.physical: [act(InvAction.stock, "add_stock"), act(InvAction.recount, "set_count")],
        ProductKind.channel: [act(InvAction.stock, "add_stock"), act(InvAction.recount, "set_count")],
        ProductKind.file: [act(InvAction.payload, "add_file")],
        ProductKind.unlimited: [act(InvAction.payload, "set_payload")],
    }
    # With named variants stock is each variant's (its own screen); what stays here is the product's: a digital
    # product's units are removed by payload whatever their variant, and an unlimited product has one payload.
    shared = {
        ProductKind.digital: [act(InvAction.unstock, "remove_units")],
        ProductKind.unlimited: [act(InvAction.payload, "set_payload")],
    }
    new_variant = button(l10n("admin.inventory.new_variant"), VarCb(action=VarAction.new, id=card.id))
    return text, rows(
        *([button(v.name, VarCb(action=VarAction.view, id=v.id))] for v in named),
        stock[card.kind] if card.plain else shared.get(card.kind, []),
        [act(InvAction.warranty, "set_warranty"), act(InvAction.limit, "set_limit"), act(InvAction.kind, "set_kind")],
        [act(InvAction.price, "set_price"), act(InvAction.reseller_price, "set_reseller_price")] if card.plain else [],
        [new_variant, act(InvAction.describe, "describe")],
        [act(InvAction.access, "access")] if card.kind is ProductKind.channel else [],
        [act(InvAction.rename, "rename"), act(toggle, toggle.name)],
        [act(InvAction.media, "media"), act(InvAction.delete, "delete")],
        [button(l10n("nav.back"), InvCb(action=InvAction.view, node=Node.subcategory, id=card.subcategory_id))],
    )


def terms_text(card: ProductAdmin, l10n: L10n) -> str:
    """The warranty and the per-buyer limit where set and, for an unlimited product, what it delivers."""
    lines = [l10n("admin.inventory.warranty_line", days=card.warranty_days)] if card.warranty_days else []
    if card.limit:
        lines.append(l10n("admin.inventory.limit_line", units=card.limit[0], days=card.limit[1]))
    if card.kind is ProductKind.unlimited:
        state = {None: "none", True: "file", False: "text"}[card.payload_is_file]
        lines.append(l10n(f"admin.inventory.payload_{state}"))
    return "\n".join(lines)


async def product_of_kind(
    query: CallbackQuery,
    product_id: int,
    kinds: tuple[ProductKind, ...],
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> ProductAdmin | None:
    """The product a dialog for products of `kinds` starts on; None, with the admin told and the product (or the
    catalog) shown again, when it is gone or its kind was changed meanwhile (an import, another admin)."""
    try:
        card = await admin_inventory.product(product_id)
    except NotFound:
        card = None
    if card is None or card.kind not in kinds:
        alert(callback_answer, l10n("admin.inventory.gone"))
        await show_node(query, Node.product, product_id, 0, admin_inventory, settings, l10n, callback_answer)
        return None
    return card


async def show_node(
    event: Message | CallbackQuery,
    node: Node,
    node_id: int,
    page: int,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer | None = None,
) -> None:
    """The node's view; the catalog root, with a notice, when the node is gone."""
    try:
        if node is Node.product:
            await answer(event, *product_view(await admin_inventory.product(node_id), settings, l10n))
            return
        listing = await admin_inventory.listing(None if node is Node.root else Level(node.value), node_id, page)
    except NotFound:
        listing, node = await admin_inventory.listing(None, 0, 0), Node.root
        if callback_answer is not None:
            alert(callback_answer, l10n("admin.inventory.gone"))
        else:
            await answer(event, l10n("admin.inventory.gone"))
    await answer(event, *listing_view(node, listing, l10n))


async def open_section(
    query: CallbackQuery, admin_inventory: AdminInventoryService, settings: Settings, l10n: L10n
) -> None:
    await show_node(query, Node.root, 0, 0, admin_inventory, settings, l10n)


async def view(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()  # leaving any dialog: the next text is not taken as its answer
    await show_node(
        query,
        callback_data.node,
        callback_data.id,
        max(callback_data.page, 0),
        admin_inventory,
        settings,
        l10n,
        callback_answer,
    )


async def set_active(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()
    if callback_data.node is not Node.root:
        try:
            await admin_inventory.set_active(
                actor(query),
                Level(callback_data.node.value),
                callback_data.id,
                callback_data.action is InvAction.activate,
            )
            callback_answer.text = l10n(f"admin.inventory.{callback_data.action.name}d")
        except NotFound:
            pass  # show_node says so
    await show_node(query, callback_data.node, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)


PROMPTS = {
    InvAction.rename: ("name", "ask_rename"),
    InvAction.price: ("price", "ask_price"),
    InvAction.reseller_price: ("price", "ask_reseller_price"),
    InvAction.describe: ("description", "ask_description"),
    InvAction.warranty: ("warranty", "ask_warranty"),
    InvAction.limit: ("limit", "ask_limit"),
}


async def ask(query: CallbackQuery, callback_data: InvCb, state: FSMContext, settings: Settings, l10n: L10n) -> None:
    """Start a dialog: the next text the admin sends answers it."""
    node, node_id, action = callback_data.node, callback_data.id, callback_data.action
    if action is InvAction.new:
        field, key = "name", f"ask_{CHILD[node].name}_name"
        await state.set_data({"op": "new", "node": CHILD[node].value, "parent": node_id})
    else:
        field, key = PROMPTS[action]
        await state.set_data({"op": action.value, "node": node.value, "id": node_id})
    await state.set_state(getattr(InventoryForm, field))
    await answer(
        query, l10n(f"admin.inventory.{key}", currency=settings.fiat_currency), cancel_button(node, node_id, l10n)
    )


async def got_text(
    message: Message, state: FSMContext, admin_inventory: AdminInventoryService, settings: Settings, l10n: L10n
) -> None:
    """A name, description or price typed into a dialog: saved, or the next question of a new product."""
    data, text, who = await state.get_data(), message.text or "", actor(message)
    node, step = Node(data["node"]), await state.get_state()
    back = (node, data["id"]) if "id" in data else (PARENT[node], data["parent"])
    try:
        if data["op"] == InvAction.rename:
            await admin_inventory.rename(who, Level(node.value), data["id"], text)
        elif data["op"] == InvAction.price:
            await admin_inventory.set_price(who, data["id"], text)
        elif data["op"] == InvAction.reseller_price:
            await admin_inventory.set_reseller_price(who, data["id"], text)
        elif data["op"] == InvAction.describe:
            await admin_inventory.set_description(who, data["id"], text)
        elif data["op"] == InvAction.warranty:
            await admin_inventory.set_warranty(who, data["id"], text)
        elif data["op"] == InvAction.limit:
            await admin_inventory.set_limit(who, data["id"], text)
        elif node is not Node.product:
            back = (node, await admin_inventory.create(who, Level(node.value), data["parent"], text))
        else:
            await next_question(message, state, step, text, back, settings, l10n)
            return
    except InventoryRefused as e:
        await message.answer(
            l10n("admin.inventory.refused", problem=escape(e.problem)), reply_markup=cancel_button(*back, l10n)
        )
        return
    except NameTaken:
        await message.answer(l10n("admin.inventory.name_taken"), reply_markup=cancel_button(*back, l10n))
        return
    except SeveralVariants:  # variants were added meanwhile: each has its own price now
        await message.answer(l10n("admin.inventory.several_variants"))
    except NotFound:
        back = (Node.root, 0)
    await state.clear()
    await show_node(message, *back, 0, admin_inventory, settings, l10n)


async def next_question(
    message: Message,
    state: FSMContext,
    step: str | None,
    text: str,
    back: tuple[Node, int],
    settings: Settings,
    l10n: L10n,
) -> None:
    """New product: name → description → price → kind. Raises InventoryRefused for a bad answer."""
    if step == InventoryForm.name.state:
        await state.update_data(name=checked_name(text))
        await state.set_state(InventoryForm.description)
        await message.answer(l10n("admin.inventory.ask_description"), reply_markup=cancel_button(*back, l10n))
    elif step == InventoryForm.description.state:
        await state.update_data(description=checked_description(text))
        await state.set_state(InventoryForm.price)
        await message.answer(
            l10n("admin.inventory.ask_price", currency=settings.fiat_currency), reply_markup=cancel_button(*back, l10n)
        )
    else:
        checked_price(text)
        await state.update_data(price=text)
        await state.set_state(InventoryForm.kind)
        await message.answer(l10n("admin.inventory.ask_kind"), reply_markup=kind_buttons(0, back, l10n))


def kind_buttons(product_id: int, back: tuple[Node, int], l10n: L10n) -> InlineKeyboardMarkup:
    """Every kind (for the product `product_id`, 0 for a new one), and Cancel back to `back`."""
    return rows(
        [button(l10n(f"admin.inventory.kind_{kind}"), KindCb(kind=kind, id=product_id)) for kind in ProductKind],
        [button(l10n("admin.inventory.cancel"), InvCb(action=InvAction.cancel, node=back[0], id=back[1]))],
    )


async def ask_kind(query: CallbackQuery, callback_data: InvCb, state: FSMContext, l10n: L10n) -> None:
    await state.clear()
    back = (Node.product, callback_data.id)
    await answer(query, l10n("admin.inventory.ask_kind"), kind_buttons(callback_data.id, back, l10n))


async def change_kind(
    query: CallbackQuery,
    callback_data: KindCb,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await admin_inventory.set_kind(actor(query), callback_data.id, callback_data.kind)
        callback_answer.text = l10n("admin.inventory.kind_changed")
    except InventoryRefused as e:
        alert(callback_answer, l10n("admin.inventory.kind_refused", problem=e.problem))
    except NotFound:
        pass  # show_node says so
    await show_node(query, Node.product, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)


async def got_kind(
    query: CallbackQuery,
    callback_data: KindCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    data = await state.get_data()
    await state.clear()
    try:
        product_id = await admin_inventory.create_product(
            actor(query),
            data["parent"],
            ProductDraft(data["name"], data["description"], data["price"], callback_data.kind),
        )
    except (InventoryRefused, NameTaken, NotFound):  # changed meanwhile (another admin, an import)
        alert(callback_answer, l10n("admin.inventory.gone"))
        await show_node(query, Node.subcategory, data["parent"], 0, admin_inventory, settings, l10n, callback_answer)
        return
    callback_answer.text = l10n("admin.inventory.created")
    await show_node(query, Node.product, product_id, 0, admin_inventory, settings, l10n)


def build() -> Router:
    router = Router(name="admin-inventory")
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.inventory))
    router.callback_query.register(view, InvCb.filter(F.action.in_({InvAction.view, InvAction.cancel})))
    router.callback_query.register(set_active, InvCb.filter(F.action.in_({InvAction.activate, InvAction.deactivate})))
    router.callback_query.register(ask, InvCb.filter((F.action == InvAction.new) & (F.node != Node.product)))
    router.callback_query.register(ask, InvCb.filter((F.action == InvAction.rename) & (F.node != Node.root)))
    router.callback_query.register(
        ask,
        InvCb.filter(
            F.action.in_(
                {InvAction.price, InvAction.reseller_price, InvAction.describe, InvAction.warranty, InvAction.limit}
            )
            & (F.node == Node.product)
        ),
    )
    router.callback_query.register(got_kind, KindCb.filter(F.id == 0), InventoryForm.kind)
    router.callback_query.register(change_kind, KindCb.filter(F.id > 0))
    router.callback_query.register(ask_kind, InvCb.filter((F.action == InvAction.kind) & (F.node == Node.product)))
    for step in (
        InventoryForm.name,
        InventoryForm.description,
        InventoryForm.price,
        InventoryForm.warranty,
        InventoryForm.limit,
    ):
        router.message.register(got_text, step, F.text, ~F.text.startswith("/"))
    return router
