"""Checkout up to the invoice: where to ship and how (only for a cart with something physical), the coin,
taking what is left when stock ran short; and changing where an unpaid order is shipped.

The address is asked for in a conversation state; what the buyer types is sealed at once, and the sealed
draft waits in the conversation data until checkout puts it on the order. Any button or command leaves the
waiting state and keeps the draft (handlers.prompts).
"""

from dataclasses import dataclass
from html import escape

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.callbacks import CartAction, CartCb, OrderAction, OrderCb, PayCb, ShipAction, ShipCb
from handlers.cart import cart_text
from handlers.kinds import limit_text
from handlers.orders import order_text, send_order
from handlers.prices import price_lines, problem_text
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert, answer, show
from l10n import L10n
from services.dto import UserDTO
from services.money import format_fiat
from services.orders.buyer import AddressLocked, OrderService
from services.orders.lifecycle import OutOfStock
from services.payments.rates import RateUnavailable
from services.payments.watch import PaymentWatch
from services.shop.cart import CartService
from services.shop.catalog import NotFound
from services.shop.checkout import (
    AddressNeeded,
    CheckoutRefused,
    CheckoutService,
    CreditChanged,
    OptionNeeded,
    ShippingChoice,
)
from services.shop.limits import LimitReached
from services.shop.shipping import ADDRESS_LIMIT, AddressesUnavailable, AddressRefused, ShippingService
from services.shop.vouchers import VoucherRefused
from services.wallet.merchant import Wallet

DRAFT = "shipping_draft"  # conversation data: the sealed draft of the address typed at checkout


class AddressForm(StatesGroup):
    checkout = State()  # the address of the cart being checked out
    order = State()  # a new address for an unpaid order (data: order_id)


async def draft_of(state: FSMContext) -> str | None:
    value = (await state.get_data()).get(DRAFT)
    return value if isinstance(value, str) else None


async def start(
    query: CallbackQuery,
    user: UserDTO,
    cart: CartService,
    shipping: ShippingService,
    checkout: CheckoutService,
    wallet: Wallet,
    state: FSMContext,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """💳 Checkout: where to ship a cart with something physical, else straight to the coin."""
    try:
        await ShippingSteps(user, shipping, checkout, wallet, settings, l10n).coins(
            query, None, 0, callback_answer, first=True
        )
    except AddressNeeded:
        await ask_address(query, user, shipping, state, l10n)
    except CheckoutRefused as e:
        alert(callback_answer, l10n(e.key))
        if e.key == "cart.empty":
            view = await cart.view(user.id)
            await show(query, cart_text(view, settings.fiat_currency, l10n), keyboards.cart(view, l10n))


async def ask_address(
    query: CallbackQuery, user: UserDTO, shipping: ShippingService, state: FSMContext, l10n: L10n
) -> None:
    previous = await shipping.previous(user.id, await draft_of(state))
    await state.set_state(AddressForm.checkout)
    text = l10n("checkout.ask_address", limit=ADDRESS_LIMIT)
    if previous is not None:
        text += "\n\n" + l10n("checkout.previous_address", address=escape(previous))
    await show(query, text, keyboards.address_prompt(previous is not None, l10n))


async def got_address(
    message: Message,
    user: UserDTO,
    shipping: ShippingService,
    checkout: CheckoutService,
    wallet: Wallet,
    state: FSMContext,
    settings: Settings,
    l10n: L10n,
) -> None:
    try:
        draft = shipping.draft(user.id, message.text or "")
    except AddressRefused:
        await message.answer(l10n("checkout.address_refused", limit=ADDRESS_LIMIT))
        return
    except AddressesUnavailable:
        await state.set_state(None)
        await message.answer(l10n("checkout.no_address_key"), reply_markup=keyboards.main_menu(l10n))
        return
    await state.set_state(None)
    await state.update_data({DRAFT: draft})
    await ShippingSteps(user, shipping, checkout, wallet, settings, l10n).options(message, draft)


async def reuse_address(
    query: CallbackQuery,
    user: UserDTO,
    shipping: ShippingService,
    checkout: CheckoutService,
    wallet: Wallet,
    state: FSMContext,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    draft = await shipping.reuse_previous(user.id, await draft_of(state))
    if draft is None:  # an old button: nothing to reuse any more
        alert(callback_answer, l10n("error.stale"))
        await ask_address(query, user, shipping, state, l10n)
        return
    await state.update_data({DRAFT: draft})
    await ShippingSteps(user, shipping, checkout, wallet, settings, l10n).options(query, draft)


@dataclass(frozen=True, slots=True)
class ShippingSteps:
    """The steps after the address, for a cart with something physical, with what the update brought."""

    user: UserDTO
    shipping: ShippingService
    checkout: CheckoutService
    wallet: Wallet
    settings: Settings
    l10n: L10n

    async def options(self, event: Message | CallbackQuery, draft: str | None) -> None:
        """The shipping options under the address the buyer gave; straight to the coin when none is offered."""
        l10n, options = self.l10n, await self.shipping.options()
        if not options:
            await self.coins(event, draft, 0)
            return
        text = self._ship_to(draft) + "\n\n" + l10n("checkout.choose_shipping")
        await answer(event, text, keyboards.shipping_options(options, self.settings.fiat_currency, l10n))

    async def coins(
        self,
        event: Message | CallbackQuery,
        draft: str | None,
        option: int,
        callback_answer: CallbackAnswer | None = None,
        note: str = "",
        credit: bool = False,
        first: bool = False,
    ) -> None:
        """The price with shipping option `option`, and the coins; the options again when that one is not
        offered (any more); the price without the cart's code, after saying why, when that code cannot be used
        (any more). With `credit`, the buyer's store credit pays what it can (a buyer with credit can switch it
        on and off here). With `first` (checkout's first screen, `start`), a CheckoutRefused is the caller's to
        show (CheckoutService.quote's `first`)."""
        l10n, currency = self.l10n, self.settings.fiat_currency
        try:
            quote = await self.checkout.quote(self.user.id, option, credit, first=first)
        except VoucherRefused as e:  # the code is off the cart now: the price without it
            if callback_answer is not None:
                alert(callback_answer, code_dropped(e, currency, l10n))
            note = "" if callback_answer else code_dropped(e, currency, l10n)
            await self.coins(event, draft, option, note=note, credit=credit)
            return
        except CheckoutRefused as e:
            if first:
                raise
            if callback_answer is not None:
                alert(callback_answer, l10n(e.key))
            if isinstance(e, OptionNeeded):
                await self.options(event, draft)
            else:  # the cart was emptied meanwhile
                await answer(event, l10n(e.key), keyboards.main_menu(l10n))
            return
        total = format_fiat(quote.total, currency)
        choose = (
            l10n("checkout.credit_pays_all") if credit and quote.covered else l10n("checkout.choose_chain", total=total)
        )
        if steps := price_lines(quote.price, currency, l10n):
            if quote.shipping_name is not None:
                shipped = format_fiat(quote.shipping, currency)
                steps.append(l10n("price.shipping", option=escape(quote.shipping_name), amount=shipped))
            price = "\n".join([*steps, choose])
        elif quote.shipping_name is None:
            price = l10n("checkout.choose_chain", total=total)
        else:
            price = l10n(
                "checkout.choose_chain_shipping",
                items=format_fiat(quote.items, currency),
                option=escape(quote.shipping_name),
                shipping=format_fiat(quote.shipping, currency),
                total=total,
            )
        if quote.balance and not credit:
            price += "\n\n" + l10n("checkout.credit_available", balance=format_fiat(quote.balance, currency))
        if quote.ships:
            price = self._ship_to(draft) + "\n\n" + price
        if note:
            price = note + "\n\n" + price
        markup = keyboards.assets(
            quote.coins, currency, l10n, ships=quote.ships, option=option, credit=quote, use_credit=credit
        )
        await answer(event, price, markup)

    def _ship_to(self, draft: str | None) -> str:
        return self.l10n("checkout.ship_to", address=escape(self.shipping.read_draft(self.user.id, draft) or "—"))


async def choose_option(
    query: CallbackQuery,
    callback_data: ShipCb,
    user: UserDTO,
    shipping: ShippingService,
    checkout: CheckoutService,
    wallet: Wallet,
    state: FSMContext,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """A shipping option chosen, or the store credit applied (or not): the price and the coins."""
    steps = ShippingSteps(user, shipping, checkout, wallet, settings, l10n)
    await steps.coins(query, await draft_of(state), callback_data.id, callback_answer, credit=callback_data.credit)


async def pay(
    query: CallbackQuery,
    callback_data: PayCb,
    user: UserDTO,
    checkout: CheckoutService,
    shipping: ShippingService,
    orders: OrderService,
    cart: CartService,
    wallet: Wallet,
    payment_watch: PaymentWatch,
    state: FSMContext,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.trim:
        await cart.take_what_is_left(user.id)
    draft = await draft_of(state)
    try:
        choice = ShippingChoice(draft, callback_data.ship)
        result = await checkout.checkout(
            user.id, callback_data.chain, callback_data.token or None, choice, use_credit=callback_data.credit
        )
    except AddressNeeded as e:
        alert(callback_answer, l10n(e.key))
        await ask_address(query, user, shipping, state, l10n)
        return
    except OptionNeeded as e:
        alert(callback_answer, l10n(e.key))
        await ShippingSteps(user, shipping, checkout, wallet, settings, l10n).options(query, draft)
        return
    except CreditChanged as e:  # nothing placed: the price with the credit as it is now
        alert(callback_answer, l10n(e.key))
        steps = ShippingSteps(user, shipping, checkout, wallet, settings, l10n)
        await steps.coins(query, draft, callback_data.ship, credit=callback_data.credit)
        return
    except CheckoutRefused as e:
        alert(callback_answer, l10n(e.key))
        return
    except RateUnavailable:
        alert(callback_answer, l10n("checkout.rate_unavailable"))
        return
    except LimitReached as e:
        alert(callback_answer, limit_text(e, l10n))
        return
    except VoucherRefused as e:  # nothing placed, the code is off the cart: the price without it
        alert(callback_answer, code_dropped(e, settings.fiat_currency, l10n))
        steps = ShippingSteps(user, shipping, checkout, wallet, settings, l10n)
        await steps.coins(query, draft, callback_data.ship, credit=callback_data.credit)
        return
    except OutOfStock as e:
        left = [l10n("checkout.left", name=escape(name), available=n) for name, n in e.shortages]
        view = await cart.view(user.id)
        # Taking what is left leaves something to buy when a short line has some left, or another line is fine.
        rest = any(n for _, n in e.shortages) or len(view.lines) > len(e.shortages)
        retry = callback_data.model_copy(update={"trim": True}) if rest else None
        text = "\n".join([l10n("checkout.out_of_stock"), *left, "", cart_text(view, settings.fiat_currency, l10n)])
        await show(query, text, keyboards.short_stock(view, retry, l10n))
        return
    if result.existing:
        alert(callback_answer, l10n("checkout.existing"))
    else:
        await state.update_data({DRAFT: None})  # the address is the order's now
    try:
        order = result.view or await orders.view(result.order_id, user.id)
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        return
    if order.invoice and not result.existing:  # watched before the buyer can see, and pay, the address
        await payment_watch.watch_invoice(order.invoice.chain, order.invoice.address)
    await send_order(query, order, orders, settings, l10n)


async def ask_order_address(
    query: CallbackQuery,
    callback_data: OrderCb,
    user: UserDTO,
    orders: OrderService,
    state: FSMContext,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        view = await orders.view(callback_data.id, user.id)
    except NotFound:
        view = None
    if view is None or view.shipping is None:  # someone else's order looks exactly like a missing one
        alert(callback_answer, l10n("error.stale"))
        return
    if not view.address_editable:
        alert(callback_answer, l10n("order.address_locked"))
        return
    await state.set_state(AddressForm.order)
    await state.update_data(order_id=view.id)
    await show(
        query, l10n("order.ask_address", order_id=view.id, limit=ADDRESS_LIMIT), keyboards.back_to_order(view.id, l10n)
    )


async def got_order_address(
    message: Message, user: UserDTO, orders: OrderService, state: FSMContext, settings: Settings, l10n: L10n
) -> None:
    order_id = int((await state.get_data())["order_id"])
    try:
        await orders.change_address(order_id, user.id, message.text or "")
    except AddressRefused:
        await message.answer(
            l10n("checkout.address_refused", limit=ADDRESS_LIMIT), reply_markup=keyboards.back_to_order(order_id, l10n)
        )
        return
    except (NotFound, AddressLocked, AddressesUnavailable) as e:
        await state.set_state(None)
        key = "order.address_locked" if isinstance(e, AddressLocked) else "error.stale"
        await message.answer(l10n(key), reply_markup=keyboards.back_to_order(order_id, l10n))
        return
    await state.set_state(None)
    view = await orders.view(order_id, user.id)
    detail, _ = order_text(view, settings, l10n)  # an unpaid order: no goods, so never a file
    text = l10n("order.address_changed", order_id=order_id) + "\n\n" + detail
    await message.answer(text, reply_markup=keyboards.order(view, l10n))


async def not_text(message: Message, state: FSMContext, l10n: L10n) -> None:
    data, waiting = await state.get_data(), await state.get_state()
    order_id = data.get("order_id") if waiting == AddressForm.order.state else None
    markup = keyboards.back_to_order(int(order_id), l10n) if order_id is not None else None
    await message.answer(l10n("checkout.address_refused", limit=ADDRESS_LIMIT), reply_markup=markup)


def code_dropped(error: VoucherRefused, currency: str, l10n: L10n) -> str:
    return problem_text(error.problem, currency, l10n) + "\n" + l10n("checkout.code_dropped")


def build() -> Router:
    """Goes before the shop's routers, so that any button first ends the wait for an address."""
    router, waiting = waiting_router("checkout", AddressForm)
    router.message.register(got_address, StateFilter(AddressForm.checkout), F.text & ~COMMAND)
    router.message.register(got_order_address, StateFilter(AddressForm.order), F.text & ~COMMAND)
    router.message.register(not_text, waiting, ~COMMAND)
    router.callback_query.register(start, CartCb.filter(F.action == CartAction.checkout))
    router.callback_query.register(ask_address, ShipCb.filter(F.action == ShipAction.address))
    router.callback_query.register(reuse_address, ShipCb.filter(F.action == ShipAction.reuse))
    router.callback_query.register(choose_option, ShipCb.filter(F.action == ShipAction.option))
    router.callback_query.register(pay, PayCb.filter())
    router.callback_query.register(ask_order_address, OrderCb.filter(F.action == OrderAction.address))
    return router
