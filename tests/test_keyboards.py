"""Buttons are made once per text and callback data (handlers.keyboards.button), and only the same ones are shared."""

from aiogram.filters.callback_data import CallbackData

from handlers import keyboards
from handlers.callbacks import ProductAction, ProductCb
from handlers.keyboards import button


class First(CallbackData, prefix="t1"):
    id: int


class Second(CallbackData, prefix="t2"):
    id: int


def test_a_button_is_made_once_for_the_same_text_and_data() -> None:
    card = button("Editor", ProductCb(action=ProductAction.view, id=7))
    assert (card.text, card.callback_data) == ("Editor", ProductCb(action=ProductAction.view, id=7).pack())
    assert button("Editor", ProductCb(action=ProductAction.view, id=7)) is card
    other_product = button("Editor", ProductCb(action=ProductAction.view, id=8))
    other_text = button("Editor Pro", ProductCb(action=ProductAction.view, id=7))
    assert (other_product.text, other_product.callback_data) == ("Editor", "pr:v:8:1:c:0:0")
    assert (other_text.text, other_text.callback_data) == ("Editor Pro", card.callback_data)
    # the same values in another kind of callback data
    assert [button("Open", First(id=1)).callback_data, button("Open", Second(id=1)).callback_data] == ["t1:1", "t2:1"]


def test_the_buttons_kept_are_bounded() -> None:
    for n in range(keyboards.BUTTONS_KEPT + 10):
        button(f"item {n}", ProductCb(action=ProductAction.view, id=n + 1))
    assert 0 < len(keyboards._buttons) <= keyboards.BUTTONS_KEPT
