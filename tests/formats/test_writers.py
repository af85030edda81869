"""Every writer of the product table: typed Excel cells, formula-safe CSV and Excel
text, exact JSON Lines and Parquet (issue 18 item 5, issue 16 item 8)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from jditem.batch.export import open_writer
from jditem.formats.writers import CsvWriter
from jditem.protocol.product import Product
from tests.support.exports import products, xlsx_rows

EVIL = '=HYPERLINK("http://evil.example","点我")'


def evil_product() -> Product:
    return Product(
        sku_id="100012043978",
        title=EVIL,
        url="https://item.jd.com/100012043978.html",
        model="@SUM(A1)",
        price={"current": "-5.50", "original": "1390.00"},
    )


def test_xlsx_cells_are_typed_ids_stay_text(tmp_path: Path) -> None:
    out = tmp_path / "p.xlsx"
    writer = open_writer(out, "xlsx")
    sample = Product.model_validate_json(products()[0])
    fetched = datetime(2026, 3, 9, 23, 10, 5, tzinfo=UTC)
    writer.write(
        sample.model_copy(update={"fetched_at": fetched}).model_dump_json(), "100117219515"
    )
    writer.close()
    row = xlsx_rows(out)[0]
    assert row["requested_id"] == "100117219515"  # text: Excel keeps every digit
    assert row["sku_id"] == "100117219515"
    assert isinstance(row["brand_id"], str)
    assert isinstance(row["category_ids"], str)
    assert row["price_original"] == 1390.0  # a number, not the text "1390.00"
    assert isinstance(row["stock_state"], int)
    assert row["price_masked"] is True
    assert row["id_mismatch"] is False
    assert row["fetched_at"] == fetched.replace(tzinfo=None)  # a date-time cell, in UTC
    assert isinstance(row["title"], str)


def test_formula_text_is_neutralised_in_csv_and_xlsx_and_exact_elsewhere(tmp_path: Path) -> None:
    source = evil_product().model_dump_json()
    written = {}
    for fmt in ("csv", "xlsx", "jsonl", "parquet"):
        out = tmp_path / f"p.{fmt}"
        writer = open_writer(out, fmt)  # type: ignore[arg-type]
        writer.write(source)
        writer.close()
        written[fmt] = out

    with written["csv"].open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert row["title"] == "'" + EVIL
    assert row["model"] == "'@SUM(A1)"
    assert row["price_current"] == "-5.50"  # a negative price stays a number

    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(written["xlsx"])["products"]
    header = [cell.value for cell in sheet[1]]
    title = sheet.cell(row=2, column=header.index("title") + 1)
    assert title.value == EVIL  # exact value, typed as text, never a formula
    assert title.data_type == "s"
    assert title.quotePrefix  # Excel's own "this is text" mark
    price = sheet.cell(row=2, column=header.index("price_current") + 1)
    assert price.value == -5.5
    assert not price.quotePrefix

    (line,) = written["jsonl"].read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["title"] == EVIL
    pq = pytest.importorskip("pyarrow.parquet")
    (parquet_row,) = pq.read_table(written["parquet"]).to_pylist()
    assert parquet_row["title"] == EVIL
    assert parquet_row["price_current"] == Decimal("-5.5000")


def test_the_csv_writer_streams_to_any_text_buffer() -> None:
    """The console's download and the CLI's file share this writer."""
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.write_product(evil_product(), "7")
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert rows[0]["requested_id"] == "7"
    assert rows[0]["id_mismatch"] == "true"
    assert writer.mismatches == 1
