"""The buyer's side of a refund: the shop asked (a notice with buttons), the buyer sends the address it
should go to, or takes it as store credit instead (after confirming). A refused address changes nothing and
the prompt stays, so the buyer can send another; any button or command leaves it (handlers.prompts)."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers import keyboards
from handlers.callbacks import RefundAction, RefundCb
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert, show
from l10n import L10n
from services.dto import UserDTO
from services.money import format_amount, format_fiat
from services.orders.refunds import BuyerRefundService, NoCredit, OwnAddress, RefundAsk, WatchUnavailable
from services.shop.catalog import NotFound
from services.wallet.addresses import AddressProblem, NotAnAddress


class RefundForm(StatesGroup):
    address = State()  # data: refund_id


def _params(ask: RefundAsk) -> dict[str, object]:
    return {
        "order_id": ask.order_id,
        "amount": format_amount(ask.unit, ask.amount),
        "coin": ask.unit.symbol,
        "network": ask.network.value,
    }


async def ask_address(
    query: CallbackQuery,
    callback_data: RefundCb,
    user: UserDTO,
    refunds: BuyerRefundService,
    state: FSMContext,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        ask = await refunds.asking(callback_data.id, user.id)
    except NotFound:
        alert(callback_answer, l10n("refund.not_waiting"))
        return
    await state.set_state(RefundForm.address)
    await state.update_data(refund_id=ask.id)
    await show(query, l10n("refund.ask_address", **_params(ask)), keyboards.back_to_order(ask.order_id, l10n))


async def got_address(
    message: Message, user: UserDTO, refunds: BuyerRefundService, state: FSMContext, l10n: L10n
) -> None:
    refund_id = int((await state.get_data())["refund_id"])
    try:
        ask = await refunds.asking(refund_id, user.id)
        back = keyboards.back_to_order(ask.order_id, l10n)
        try:
            ask = await refunds.give_address(refund_id, user.id, message.text or "")
        except NotAnAddress as e:
            await message.answer(refused(e, ask, l10n), reply_markup=back)
            return
        except OwnAddress:
            await message.answer(l10n("refund.address.own"), reply_markup=back)
            return
        except WatchUnavailable:
            await message.answer(l10n("refund.watch_unavailable", **_params(ask)), reply_markup=back)
            return
    except NotFound:  # withdrawn, or given from another chat meanwhile
        await state.set_state(None)
        await message.answer(l10n("refund.not_waiting"), reply_markup=keyboards.main_menu(l10n))
        return
    await state.set_state(None)
    text = l10n("refund.address_taken", address=ask.address, **_params(ask))
    await message.answer(text, reply_markup=keyboards.back_to_order(ask.order_id, l10n))


async def ask_credit(
    query: CallbackQuery,
    callback_data: RefundCb,
    user: UserDTO,
    refunds: BuyerRefundService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        ask = await refunds.asking(callback_data.id, user.id)
    except NotFound:
        alert(callback_answer, l10n("refund.credit_refused"))
        return
    if ask.credit is None:
        alert(callback_answer, l10n("refund.credit_unavailable"))
        return
    text = l10n("refund.ask_credit", credit=format_fiat(ask.credit, ask.currency), **_params(ask))
    await show(query, text, keyboards.confirm_credit(ask.id, ask.order_id, l10n))


async def take_credit(
    query: CallbackQuery,
    callback_data: RefundCb,
    user: UserDTO,
    refunds: BuyerRefundService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        taken = await refunds.take_credit(callback_data.id, user.id)
    except NotFound:
        alert(callback_answer, l10n("refund.credit_refused"))
        return
    except NoCredit:
        alert(callback_answer, l10n("refund.credit_unavailable"))
        return
    credit, balance = (format_fiat(a, taken.currency) for a in (taken.credit, taken.balance))
    text = l10n("refund.credited", order_id=taken.order_id, credit=credit, balance=balance)
    await show(query, text, keyboards.back_to_order(taken.order_id, l10n))


def refused(error: NotAnAddress, ask: RefundAsk, l10n: L10n) -> str:
    """Why the text is not an address for this refund, in the buyer's words."""
    params = _params(ask)
    if error.problem is AddressProblem.network and error.network is not None:
        params["theirs"] = error.network.value
    if error.problem is AddressProblem.other_chain and error.chain is not None:
        params["theirs"] = error.chain.upper()
    return l10n(f"refund.address.{error.problem}", **params)


async def not_text(message: Message, state: FSMContext, l10n: L10n) -> None:
    await message.answer(l10n("refund.address_text_only"))


def build() -> Router:
    """Goes before the shop's routers, so that any button first ends the wait for an address."""
    router, waiting = waiting_router("refunds", RefundForm)
    router.message.register(got_address, StateFilter(RefundForm.address), F.text & ~COMMAND)
    router.message.register(not_text, waiting, ~COMMAND)
    router.callback_query.register(ask_address, RefundCb.filter(F.action == RefundAction.address))
    router.callback_query.register(ask_credit, RefundCb.filter(F.action == RefundAction.credit))
    router.callback_query.register(take_credit, RefundCb.filter(F.action == RefundAction.credit_yes))
    return router
