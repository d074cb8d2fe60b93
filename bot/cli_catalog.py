"""`python -m bot catalog import FILE` and `python -m bot catalog export [FILE]`: the catalog as JSON;
`python -m bot catalog empty-stock [--product ID]`: every available unit removed, for a goods key rotation.

Exit status: 0 done; 1 the file is unreadable or has problems (all printed, nothing changed), or no such
product; 2 a setting is missing or wrong (no GOODS_KEY/WALLET_KEY for digital stock, or payloads sealed under
another key).
"""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from config import ConfigError, Settings
from models.database import standalone_session
from services.admin.stock import AdminStockService, Emptied
from services.catalog_io.format import CatalogErrors, load_catalog_json
from services.catalog_io.importer import CatalogExporter, CatalogImporter, ImportSummary
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsCipher, GoodsKeyMissing, goods_cipher
from services.wallet.secretbox import DecryptionError


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    catalog = commands.add_parser("catalog", help="import or export categories, products and stock as JSON")
    sub = catalog.add_subparsers(dest="catalog_command", required=True)
    load = sub.add_parser("import", help="add and update the catalog from a JSON file (all or nothing)")
    load.add_argument("file", type=Path)
    load.set_defaults(func=import_file, needs_db=True, seals=True)
    dump = sub.add_parser("export", help="write the catalog as JSON to FILE, or to stdout")
    dump.add_argument("file", type=Path, nargs="?")
    dump.add_argument(
        "--with-payloads",
        action="store_true",
        help="include the plaintext payloads of available digital units (keep the file secret)",
    )
    dump.set_defaults(func=export_file, needs_db=True)
    empty = sub.add_parser(
        "empty-stock", help="remove every available unit (held and sold ones stay), e.g. to rotate the goods key"
    )
    empty.add_argument("--product", type=int, metavar="ID", help="only this product's units")
    empty.set_defaults(func=empty_stock, needs_db=True)


def import_file(args: argparse.Namespace, settings: Settings) -> int:
    try:
        raw = args.file.read_bytes()
    except OSError as e:
        print(f"error: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 1
    try:
        summary = asyncio.run(_import(settings, load_catalog_json(raw)))
    except CatalogErrors as e:
        print(f"error: {args.file}: {len(e.problems)} problem(s), nothing was imported:", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except GoodsKeyMissing as e:
        raise ConfigError(str(e)) from None
    except IntegrityError:  # someone added the same name or payload meanwhile, e.g. from the admin panel
        print("error: the catalog changed during the import; nothing was imported, run it again", file=sys.stderr)
        return 1
    print(_summary_text(summary))
    return 0


async def _import(settings: Settings, data: object) -> ImportSummary:
    async with standalone_session(settings.resolved_database_url) as session:
        return await CatalogImporter(session, goods_cipher(settings)).import_catalog(data)


def _summary_text(s: ImportSummary) -> str:
    lines = [
        f"categories:    {s.categories_created} created, {s.categories - s.categories_created} existing"
        f" ({s.categories_updated} given another picture)",
        f"subcategories: {s.subcategories_created} created, {s.subcategories - s.subcategories_created} existing",
        f"products:      {s.products_created} created, {s.products_updated} updated, {s.products_unchanged} unchanged",
        f"units:         {s.units_added} added, {s.units_skipped} skipped as already there",
    ]
    lines += [f"  skipped {count} payload(s) already stored for {label}" for label, count in s.skipped_payloads]
    return "\n".join(lines)


def export_file(args: argparse.Namespace, settings: Settings) -> int:
    cipher = goods_cipher(settings) if args.with_payloads else None  # the key derivation costs ~0.3 s
    try:
        doc = asyncio.run(_export(settings, args.with_payloads, cipher))
    except GoodsKeyMissing as e:
        raise ConfigError(str(e)) from None
    except DecryptionError:
        raise ConfigError("GOODS_KEY/WALLET_KEY: a stored payload does not open with this key") from None
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if args.with_payloads:
        count = sum(
            len(p.get("stock", [])) for c in doc["categories"] for s in c["subcategories"] for p in s["products"]
        )
        where = args.file or "standard output"
        print(
            f"warning: {where} holds {count} secret payload(s) in plain text; keep it safe and delete it when done",
            file=sys.stderr,
        )
    if args.file is None:
        sys.stdout.buffer.write(text.encode())
        sys.stdout.flush()
        return 0
    try:  # with payloads the file is readable by its owner only, as the SOL key file is
        fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if args.with_payloads else 0o644)
        with os.fdopen(fd, "wb") as f:
            if args.with_payloads:
                os.fchmod(f.fileno(), 0o600)  # os.open's mode applies only to a new file
            f.write(text.encode())
    except OSError as e:
        print(f"error: cannot write {args.file}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


async def _export(settings: Settings, with_payloads: bool, cipher: GoodsCipher | None) -> dict[str, Any]:
    async with standalone_session(settings.resolved_database_url) as session:
        return await CatalogExporter(session, cipher).export_catalog(with_payloads)


def empty_stock(args: argparse.Namespace, settings: Settings) -> int:
    try:
        emptied = asyncio.run(_empty(settings, args.product))
    except NotFound:
        print(f"error: there is no product {args.product}", file=sys.stderr)
        return 1
    for e in emptied:
        print(f"{e.path} (#{e.product_id}): removed {e.removed}, {e.kept} held or sold stay")
    removed, kept = sum(e.removed for e in emptied), sum(e.kept for e in emptied)
    products = sum(1 for e in emptied if e.removed)
    print(f"removed {removed} available unit(s) of {products} product(s); {kept} held or sold unit(s) stay")
    return 0


async def _empty(settings: Settings, product_id: int | None) -> list[Emptied]:
    async with standalone_session(settings.resolved_database_url) as session:
        return await AdminStockService(session, None).empty_stock("cli", product_id)
