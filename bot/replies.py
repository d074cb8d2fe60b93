"""An update's last Bot API call as the handler's result, so that in Telegram webhook mode it rides in the
HTTP response to Telegram's POST instead of costing a request of its own.

aiogram executes a method that the dispatcher returns for an update: in polling mode it calls it right after
the update (`Dispatcher.silent_call_request`); in webhook mode, with the handler awaited before the response
(`bot.app.serve_telegram_updates`), it writes it into the response and Telegram performs it. Either way its
result and its errors are lost to us (logged in polling, ignored by Telegram), so only a call whose result
nothing needs and whose failure nothing handles may be returned: a button press's answer, or a command's
final message. An edit with a "message is not modified" fallback, a goods document, or a message whose id
is stored stay awaited calls.
"""

from typing import Any

from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswerMiddleware

from bot.middlewares import Handler


class AnswerPressInReply(CallbackAnswerMiddleware):
    """aiogram's CallbackAnswerMiddleware (a press is answered after its handler, with whatever text or alert
    the handler set on `callback_answer`), except that the answer is the update's result instead of a call of
    its own. Only one method fits in a webhook response: when the handler returned its own, the answer is
    awaited as before and the handler's method is the result. A handler that raised still gets its answer,
    awaited, so the person's button stops spinning."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        answer = data["callback_answer"] = self.construct_callback_answer(get_flag(data, "callback_answer"))
        if not answer.disabled and answer.answered:  # the handler asked to be answered before it runs
            await self.answer(event, answer)
        try:
            result = await handler(event, data)
        except BaseException:
            if not answer.disabled and not answer.answered:
                await self.answer(event, answer)
            raise
        if answer.disabled or answer.answered:
            return result
        if result is not None:
            await self.answer(event, answer)
            return result
        return self.answer(event, answer)
