"""Goods as their buyer receives them: in the message while they fit one, else in a .txt file with it."""

from collections.abc import Sequence
from html import escape

from aiogram.types import BufferedInputFile

from l10n import L10n

MESSAGE_LIMIT = 4096  # Telegram's, counted after HTML parsing: the HTML measured here is never shorter


def with_goods(
    text: str, goods: Sequence[str], order_id: int, l10n: L10n, *, sep: str
) -> tuple[str, BufferedInputFile | None]:
    """`text` and each payload as code, joined by `sep`, when that fits one message. Otherwise `text` with a
    note that the goods are in the attached file, and that file: order-<id>.txt, the payloads as they are,
    one per line, so nothing is lost however many there are."""
    whole = sep.join([text, *(f"<code>{escape(g)}</code>" for g in goods)])
    if len(whole) <= MESSAGE_LIMIT:
        return whole, None
    content = "".join(f"{g}\n" for g in goods).encode()
    return text + sep + l10n("goods.in_file"), BufferedInputFile(content, filename=f"order-{order_id}.txt")
