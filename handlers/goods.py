"""Goods as their buyer receives them: text goods in the message while they fit one, else in a .txt file with it;
documents (file and unlimited products) named in the message and sent as documents after it."""

from collections.abc import Sequence
from html import escape

from aiogram.types import BufferedInputFile

from l10n import L10n
from services.dto import GoodsFile

MESSAGE_LIMIT = 4096  # Telegram's, counted after HTML parsing: the HTML measured here is never shorter


def with_goods(
    text: str, goods: Sequence[str], order_id: int, l10n: L10n, *, sep: str, files: Sequence[GoodsFile] = ()
) -> tuple[str, list[BufferedInputFile]]:
    """`text` and each payload as code, joined by `sep`, when that fits one message. Otherwise `text` with a
    note that the goods are in the attached file, and that file: order-<id>.txt, the payloads as they are,
    one per line, so nothing is lost however many there are. Each document follows as a file of its own."""
    documents = [BufferedInputFile(f.data, filename=f.name) for f in files]
    text = sep.join([text, *(l10n("goods.file", name=escape(f.name)) for f in files)])
    whole = sep.join([text, *(f"<code>{escape(g)}</code>" for g in goods)])
    if len(whole) <= MESSAGE_LIMIT:
        return whole, documents
    content = "".join(f"{g}\n" for g in goods).encode()
    return text + sep + l10n("goods.in_file"), [
        BufferedInputFile(content, filename=f"order-{order_id}.txt"),
        *documents,
    ]
