"""Catalog import and export: the JSON rules, all-or-nothing imports, idempotence, and the real CLI."""

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from config import ROOT
from models.enums import StockStatus
from models.shop import Category, Product, StockUnit, Subcategory, Variant
from services.catalog_io.format import CatalogErrors, load_catalog_json, parse_catalog
from services.catalog_io.importer import CatalogExporter, CatalogImporter, ImportSummary
from services.wallet.goods import GoodsCipher, GoodsKeyMissing

EXAMPLE = Path(__file__).parent / "data" / "catalog_example.json"
GOODS_SECRET = "a long random secret that seals the goods in these tests"
EXPORTED_EXAMPLE = {
    "categories": [
        {
            "name": "Software",
            "subcategories": [
                {
                    "name": "Licences",
                    "products": [
                        {
                            "name": "Editor Pro 1y",
                            "description": "One-year licence key",
                            "price": "12.50",
                            "kind": "digital",
                            "available": 2,
                        },
                        {
                            "name": "Sticker pack",
                            "description": "Shipped by post",
                            "price": "4.00",
                            "kind": "physical",
                            "quantity": 25,
                            "available": 25,
                        },
                    ],
                }
            ],
        }
    ]
}


@pytest.fixture(scope="module")
def cipher() -> GoodsCipher:
    return GoodsCipher(GOODS_SECRET)  # scrypt: build it once


def example() -> dict[str, Any]:
    data = load_catalog_json(EXAMPLE.read_bytes())
    assert isinstance(data, dict)
    return data


def one_product(**fields) -> dict[str, Any]:
    product = {"name": "P", "price": "1.00", "kind": "physical", **fields}
    return {"categories": [{"name": "C", "subcategories": [{"name": "S", "products": [product]}]}]}


async def run_import(sessions, cipher, data) -> ImportSummary:
    async with sessions() as s:
        return await CatalogImporter(s, cipher).import_catalog(data)


async def run_export(sessions, cipher=None, with_payloads=False) -> dict[str, Any]:
    async with sessions() as s:
        return await CatalogExporter(s, cipher).export_catalog(with_payloads)


async def snapshot(sessions) -> tuple[Any, ...]:
    """Every catalog row and stock unit, to show that an import changed nothing."""
    tables = (
        (Category.id, Category.name, Category.is_active),
        (Subcategory.id, Subcategory.category_id, Subcategory.name),
        (Product.id, Product.subcategory_id, Product.name, Product.description, Product.kind),
        (Variant.id, Variant.product_id, Variant.name, Variant.price_minor, Variant.is_active),
        (
            StockUnit.id,
            StockUnit.product_id,
            StockUnit.variant_id,
            StockUnit.status,
            StockUnit.payload_enc,
            StockUnit.payload_digest,
        ),
    )
    rows = []
    async with sessions() as s:
        for cols in tables:
            rows.append([tuple(r) for r in (await s.execute(select(*cols).order_by(cols[0]))).all()])
    return tuple(rows)


async def sell(sessions, product_name: str, count: int) -> None:
    async with sessions.begin() as s:
        product_id = (await s.execute(select(Product.id).where(Product.name == product_name))).scalar_one()
        units = (
            await s.execute(
                select(StockUnit.id, StockUnit.variant_id, StockUnit.status)
                .where(StockUnit.product_id == product_id)
                .order_by(StockUnit.id)
                .limit(count)
            )
        ).all()
        await s.execute(
            update(StockUnit).where(StockUnit.id.in_([u.id for u in units])).values(status=StockStatus.sold)
        )
        # off the shelf: the variants' available-units counters move as StockRepo would move them
        for variant_id, n in Counter(u.variant_id for u in units if u.status == StockStatus.available).items():
            await s.execute(
                update(Variant).where(Variant.id == variant_id).values(available_units=Variant.available_units - n)
            )


async def test_round_trip_reimporting_the_export_changes_nothing(sessions, cipher) -> None:
    first = await run_import(sessions, cipher, example())
    assert first == ImportSummary(
        categories=1, categories_created=1, subcategories=1, subcategories_created=1, products_created=2, units_added=27
    )
    exported = await run_export(sessions)
    assert exported == EXPORTED_EXAMPLE
    before = await snapshot(sessions)
    second = await run_import(sessions, cipher, load_catalog_json(json.dumps(exported).encode()))
    assert second == ImportSummary(categories=1, subcategories=1, products_unchanged=2, units_skipped=25)
    assert await snapshot(sessions) == before
    assert await run_export(sessions) == exported


async def test_reimport_skips_stored_payloads_even_sold_ones_and_tops_physical_stock_up(sessions, cipher) -> None:
    await run_import(sessions, cipher, example())
    await sell(sessions, "Editor Pro 1y", 1)
    await sell(sessions, "Sticker pack", 5)
    data = example()
    data["categories"][0]["subcategories"][0]["products"][0]["stock"].append("KEY-AAAA-0003")
    summary = await run_import(sessions, cipher, data)
    # the two known keys are skipped (one of them sold), the new one added; 20 stickers left, 5 added
    assert (summary.units_added, summary.units_skipped) == (1 + 5, 2 + 20)
    assert summary.skipped_payloads == [("Software / Licences / Editor Pro 1y", 2)]
    exported = await run_export(sessions, cipher, with_payloads=True)
    editor, stickers = exported["categories"][0]["subcategories"][0]["products"]
    assert editor["stock"] == ["KEY-AAAA-0002", "KEY-AAAA-0003"] and editor["available"] == 2  # available only
    assert stickers["quantity"] == 25 and "stock" not in stickers


async def test_existing_products_are_updated_and_counted_only_when_they_change(sessions, cipher) -> None:
    await run_import(sessions, cipher, example())
    data = example()
    product = data["categories"][0]["subcategories"][0]["products"][1]
    product["price"], product["quantity"] = Decimal("4.5"), 3  # fewer than available: nothing is removed
    del product["description"]  # absent: the stored description stays
    summary = await run_import(sessions, cipher, data)
    assert (summary.products_updated, summary.products_unchanged, summary.units_added) == (1, 1, 0)
    stickers = (await run_export(sessions))["categories"][0]["subcategories"][0]["products"][1]
    assert stickers == {
        "name": "Sticker pack",
        "description": "Shipped by post",
        "price": "4.50",
        "kind": "physical",
        "quantity": 25,
        "available": 25,
    }


async def test_ten_thousand_units_import_in_one_go(sessions, cipher, db_url) -> None:
    payloads = [f"KEY-{i:05d}-{'X' * 24}" for i in range(10_000)]
    data = one_product(kind="digital", stock=payloads)
    started = time.perf_counter()
    summary = await run_import(sessions, cipher, data)
    took = time.perf_counter() - started
    assert summary.units_added == 10_000
    started = time.perf_counter()
    again = await run_import(sessions, cipher, data)
    took_again = time.perf_counter() - started
    assert (again.units_added, again.units_skipped) == (0, 10_000)
    print(
        f"\n10,000 digital units on {db_url.split(':')[0]}: import {took:.2f} s, re-import (all skipped) "
        f"{took_again:.2f} s"
    )
    started = time.perf_counter()
    physical = await run_import(sessions, cipher, one_product(name="Q", quantity=10_000))
    print(f"10,000 physical units: {time.perf_counter() - started:.2f} s")
    assert physical.units_added == 10_000


async def test_concurrent_imports_of_one_file_add_its_stock_once(sessions, cipher) -> None:
    summaries = await asyncio.gather(*(run_import(sessions, cipher, example()) for _ in range(3)))
    assert sorted(s.units_added for s in summaries) == [0, 0, 27]
    assert sorted(s.products_created for s in summaries) == [0, 0, 2]
    assert (await run_export(sessions)) == EXPORTED_EXAMPLE


async def test_a_malformed_file_names_every_bad_path_and_changes_nothing(sessions, cipher) -> None:
    await run_import(sessions, cipher, example())
    before = await snapshot(sessions)
    bad = {
        "version": 2,
        "categories": [
            {
                "name": "Software",
                "subcategories": [
                    {
                        "name": "Licences",
                        "products": [
                            {"name": "Editor Pro 1y", "price": "99.00", "kind": "digital", "stock": ["NEW-KEY"]},
                            {"name": "Editor Pro 1y", "price": "12.505", "kind": "digital"},
                            {"name": "", "price": "-1", "kind": "digitl"},
                            {"name": "x" * 129, "price": "abc", "kind": "physical", "quantity": -1, "stock": ["A"]},
                            {
                                "name": "D",
                                "price": Decimal("NaN"),
                                "kind": "digital",
                                "quantity": 3,
                                "stock": ["A", "B", "A", " ", 5, "y" * 4001, "nul\x00"],
                            },
                            {"price": 0, "kind": "physical", "colour": "red"},
                            "a string",
                            {"name": " Padded", "price": 1.5, "kind": "physical", "quantity": True},
                        ],
                    },
                    {"name": "Licences", "products": {}},
                ],
            },
            {"name": "Software"},
            {"subcategories": "none"},
        ],
    }
    p = "categories[0].subcategories[0].products"
    expected = [
        "version: unknown field",
        f"{p}[1].name: duplicate name 'Editor Pro 1y' in the same list",
        f"{p}[1].price: more than 2 decimals",
        f"{p}[2].name: must not be empty",
        f"{p}[2].price: must be positive",
        f"{p}[2].kind: unknown kind 'digitl': digital, physical, file, unlimited, channel",
        f"{p}[3].name: longer than 128 characters",
        f"{p}[3].price: not a decimal",
        f"{p}[3].quantity: must be a whole number from 0 to 100000",
        f"{p}[3].stock: only digital products have stock entries; give physical ones a quantity",
        f"{p}[4].price: must be a finite number",
        f"{p}[4].stock[2]: same payload as stock[0]",
        f"{p}[4].stock[3]: must not be empty",
        f"{p}[4].stock[4]: must be a string",
        f"{p}[4].stock[5]: longer than 4000 characters",
        f"{p}[4].stock[6]: contains a NUL character or a lone surrogate",
        f"{p}[4].quantity: only physical products have a quantity; list digital ones in stock",
        f"{p}[5].colour: unknown field",
        f"{p}[5].name: missing",
        f"{p}[5].price: must be positive",
        f"{p}[6]: must be an object",
        f"{p}[7].name: must not start or end with spaces",
        f"{p}[7].price: not a decimal",
        f"{p}[7].quantity: must be a whole number from 0 to 100000",
        "categories[0].subcategories[1].name: duplicate name 'Licences' in the same list",
        "categories[0].subcategories[1].products: must be a list",
        "categories[1].name: duplicate name 'Software' in the same list",
        "categories[2].name: missing",
        "categories[2].subcategories: must be a list",
    ]
    assert parse_catalog(bad)[1] == expected
    with pytest.raises(CatalogErrors) as caught:
        await run_import(sessions, cipher, bad)
    assert caught.value.problems == expected
    assert await snapshot(sessions) == before


@pytest.mark.parametrize(
    ("price", "minor"),
    [
        ("12.50", 1250),
        ("12.5", 1250),
        ("12.500", 1250),
        (Decimal("12.5"), 1250),
        (12, 1200),
        ("0.01", 1),
        ("1000000000", 100_000_000_000),
    ],
)
def test_prices_become_minor_units(price, minor) -> None:
    spec, problems = parse_catalog(one_product(price=price))
    assert problems == [] and spec.products[0].variants[0].price_minor == minor


@pytest.mark.parametrize(
    ("price", "problem"),
    [
        ("12.505", "more than 2 decimals"),
        ("0", "must be positive"),
        ("-0.00", "must be positive"),
        ("-1", "must be positive"),
        ("1e2", "not a decimal"),
        ("12,50", "not a decimal"),
        (" 1.00", "not a decimal"),
        ("NaN", "not a decimal"),
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("-Infinity"), "must be a finite number"),
        (True, "not a decimal"),
        (12.5, "not a decimal"),
        (None, "not a decimal"),
        ("1000000000.01", "must not exceed 1000000000"),
    ],
)
def test_bad_prices_are_named(price, problem) -> None:
    assert parse_catalog(one_product(price=price))[1] == [
        f"categories[0].subcategories[0].products[0].price: {problem}"
    ]


def test_json_numbers_are_decimals_and_broken_files_are_one_problem() -> None:
    numbers = load_catalog_json(b'\xef\xbb\xbf{"p": 12.5, "n": NaN}')  # a BOM is fine
    assert isinstance(numbers, dict) and numbers["p"] == Decimal("12.5") and numbers["n"].is_nan()
    assert parse_catalog(load_catalog_json(b'{"categories": []}')) == parse_catalog({"categories": []})
    for raw, start in (
        (b'{"categories": [', "$: not valid JSON: "),
        (b"\xff\xfe{}", "$: not UTF-8"),
        (b"[" * 100_000, "$: not a usable JSON document"),
    ):
        with pytest.raises(CatalogErrors) as caught:
            load_catalog_json(raw)
        assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(start)
    assert parse_catalog([])[1] == ["$: must be an object"]
    assert parse_catalog({})[1] == ["categories: missing"]
    assert parse_catalog(load_catalog_json(b'{"categories": [{"name": "\\ud800"}]}'))[1] == [
        "categories[0].name: contains a NUL character or a lone surrogate"
    ]


async def test_a_product_with_unsold_units_keeps_its_kind_and_nothing_is_written(sessions, cipher) -> None:
    await run_import(sessions, cipher, example())
    before = await snapshot(sessions)
    data = example()
    editor, stickers = data["categories"][0]["subcategories"][0]["products"]
    editor["price"] = "99.00"  # applied before the conflict is found, then rolled back
    data["categories"].insert(0, {"name": "New category"})
    stickers["kind"], stickers["stock"] = "digital", ["SOME-KEY"]
    del stickers["quantity"]
    with pytest.raises(CatalogErrors) as caught:
        await run_import(sessions, cipher, data)
    assert caught.value.problems == [
        "categories[1].subcategories[0].products[1].kind: the physical product has 25 unsold units, "
        "so it cannot become digital"
    ]
    assert await snapshot(sessions) == before
    await sell(sessions, "Sticker pack", 25)  # sold out: now it may change
    summary = await run_import(sessions, cipher, data)
    assert (summary.products_updated, summary.units_added) == (2, 1)


async def test_digital_stock_needs_a_key_but_physical_goods_do_not(sessions, cipher) -> None:
    with pytest.raises(GoodsKeyMissing, match="GOODS_KEY or WALLET_KEY"):
        await run_import(sessions, None, example())
    assert (await run_import(sessions, None, one_product(quantity=2))).units_added == 2
    with pytest.raises(GoodsKeyMissing):
        await run_export(sessions, None, with_payloads=True)
    assert (await run_export(sessions))["categories"][0]["name"] == "C"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_KEY", "_XPUB", "_KEY_FILE", "_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "catalog", *args],
        cwd=ROOT,
        env={**clean, "LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def unit_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM stock_units").fetchone()[0])


def test_cli_import_export_round_trip_on_a_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "WALLET_KEY": GOODS_SECRET}
    first = cli("import", str(EXAMPLE), env=env)
    assert first.returncode == 0, first.stderr
    assert "2 created" in first.stdout and "27 added, 0 skipped" in first.stdout
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("shop.db"))
    assert b"Editor Pro 1y" in raw and b"KEY-AAAA" not in raw  # names are plain, payloads sealed

    exported = cli("export", str(tmp_path / "out.json"), env=env)
    assert exported.returncode == 0 and exported.stderr == "", exported.stderr
    assert json.loads((tmp_path / "out.json").read_text("utf-8")) == EXPORTED_EXAMPLE
    again = cli("import", str(tmp_path / "out.json"), env=env)
    assert again.returncode == 0, again.stderr
    assert "0 created, 0 updated, 2 unchanged" in again.stdout and "0 added, 25 skipped" in again.stdout

    secret = cli("export", "--with-payloads", env=env)
    assert secret.returncode == 0 and secret.stderr.startswith("warning: standard output holds 2 secret payload")
    assert json.loads(secret.stdout)["categories"][0]["subcategories"][0]["products"][0]["stock"] == [
        "KEY-AAAA-0001",
        "KEY-AAAA-0002",
    ]
    to_file = cli("export", "--with-payloads", str(tmp_path / "secret.json"), env=env)
    assert to_file.returncode == 0 and "secret.json holds 2 secret payload" in to_file.stderr
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o600


def test_cli_rejects_a_bad_file_with_status_1_and_a_missing_key_with_status_2(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "WALLET_KEY": GOODS_SECRET}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(one_product(price="12,50", kind="digital", stock=["K1", "K1"])), "utf-8")
    result = cli("import", str(bad), env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[1:] == [
        "  categories[0].subcategories[0].products[0].price: not a decimal",
        "  categories[0].subcategories[0].products[0].stock[1]: same payload as stock[0]",
    ]
    assert unit_count(db) == 0
    no_key = cli("import", str(EXAMPLE), env={"DATABASE_URL": env["DATABASE_URL"]})
    assert no_key.returncode == 2 and no_key.stderr.startswith("error: GOODS_KEY or WALLET_KEY"), no_key.stderr
    assert unit_count(db) == 0
    missing = cli("import", str(tmp_path / "nope.json"), env=env)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
