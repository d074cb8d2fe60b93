"""Digital stock as an admin sends it: pasted lines, or a .txt, .csv or .json file. Pure: no I/O.

Every payload is then checked by the catalog import's own checker (services.catalog_io.format.parse_catalog),
so a unit accepted here is exactly one `python -m bot catalog import` would accept; its problems are
reported by the line they come from.
"""

import csv
import json
import re
from dataclasses import dataclass
from decimal import Decimal

from models.enums import ProductKind
from services.catalog_io.format import MAX_QUANTITY, parse_catalog

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 10
FORMATS = ("txt", "csv", "json")
_STOCK_PROBLEM = re.compile(r"\.stock\[(\d+)\]: (.*)$")
_SAME_AS = re.compile(r"same payload as stock\[(\d+)\]")


class StockFileErrors(Exception):
    """The stock cannot be added and nothing was changed. `problems`: "line N: what is wrong" each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:3]))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class StockLine:
    line: int  # 1-based, where the unit starts in the text or file
    payload: object  # a str once checked; a JSON file may hold anything


def read_stock(raw: bytes, filename: str | None = None) -> list[str]:
    """The payloads of pasted text (`filename` None) or of an uploaded file, in order, checked.

    .txt and pasted text: one unit per line, surrounding spaces dropped, blank lines skipped. .csv: one
    unit per row, either a single column or the column headed `payload`. .json: an array of strings.
    Raises StockFileErrors naming every bad line (or the one reason the whole file is unusable).
    """
    kind = "txt" if filename is None else filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if kind not in FORMATS:
        raise StockFileErrors([f"{filename}: not a .txt, .csv or .json file"])
    if len(raw) > MAX_FILE_BYTES:
        raise StockFileErrors([f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise StockFileErrors([f"line {line}: not UTF-8 text"]) from None
    lines = _json_lines(text) if kind == "json" else _csv_lines(text) if kind == "csv" else _text_lines(text)
    if not lines:
        raise StockFileErrors(["no units in it"])
    if len(lines) > MAX_QUANTITY:
        raise StockFileErrors([f"{len(lines)} units; at most {MAX_QUANTITY} at a time"])
    return check_payloads(lines)


def check_payloads(lines: list[StockLine]) -> list[str]:
    """The catalog import's rules, applied to one digital product's stock; problems named by line."""
    product = {
        "name": "stock",
        "price": "1",
        "kind": ProductKind.digital.value,
        "stock": [line.payload for line in lines],
    }
    _, problems = parse_catalog(
        {"categories": [{"name": "c", "subcategories": [{"name": "s", "products": [product]}]}]}
    )
    if problems:
        raise StockFileErrors([_by_line(p, lines) for p in problems])
    return [str(line.payload) for line in lines]


def _by_line(problem: str, lines: list[StockLine]) -> str:
    match = _STOCK_PROBLEM.search(problem)
    if match is None:
        return problem
    message = _SAME_AS.sub(lambda m: f"same payload as line {lines[int(m.group(1))].line}", match.group(2))
    return f"line {lines[int(match.group(1))].line}: {message}"


def _text_lines(text: str) -> list[StockLine]:
    return [StockLine(n, line.strip()) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _csv_lines(text: str) -> list[StockLine]:
    reader = csv.reader(text.splitlines(keepends=True))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as e:
        raise StockFileErrors([f"line {start}: {e}"]) from None
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0][1]]
    if "payload" in header:
        column = header.index("payload")
        missing = [f"line {n}: no value in the payload column" for n, row in rows[1:] if len(row) <= column]
        if missing:
            raise StockFileErrors(missing)
        return [StockLine(n, row[column]) for n, row in rows[1:]]
    wide = [
        f"line {n}: {len(row)} columns; put one unit per row, or head a column `payload`"
        for n, row in rows
        if len(row) != 1
    ]
    if wide:
        raise StockFileErrors(wide)
    return [StockLine(n, row[0]) for n, row in rows]


def _json_lines(text: str) -> list[StockLine]:
    """The items of a top-level JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)
    items: list[StockLine] = []
    pos = _skip_space(text, 0)
    try:
        if not text.startswith("[", pos):
            raise StockFileErrors([f"line {_line(text, pos)}: must be a JSON array of strings"])
        pos = _skip_space(text, pos + 1)
        while not text.startswith("]", pos):
            value, end = decoder.raw_decode(text, pos)
            items.append(StockLine(_line(text, pos), value))
            pos = _skip_space(text, end)
            if text.startswith(",", pos):
                pos = _skip_space(text, pos + 1)
            elif not text.startswith("]", pos):
                raise StockFileErrors([f"line {_line(text, pos)}: expected , or ] after an item"])
        if _skip_space(text, pos + 1) != len(text):
            raise StockFileErrors([f"line {_line(text, pos + 1)}: text after the array"])
    except json.JSONDecodeError as e:
        raise StockFileErrors([f"line {e.lineno}: not valid JSON: {e.msg}"]) from None
    except (ValueError, RecursionError) as e:
        raise StockFileErrors([f"line {_line(text, pos)}: not usable JSON: {e}"]) from None
    return items


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1
