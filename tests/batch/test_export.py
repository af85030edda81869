"""Exporters: JSON Lines, CSV and Parquet of the flattened core fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from jditem.batch.export import ExportError, columns, guess_format, open_writer
from jditem.protocol.product import Product

FIXTURE = Path(__file__).parents[1] / "fixtures" / "jd-detail-v1-abridged.json"


def products() -> list[str]:
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    sample = Product.from_payload(payload.get("data", payload))
    return [sample.model_dump_json(), Product(sku_id="42", title="Bare", url="u").model_dump_json()]


def test_guess_format() -> None:
    assert guess_format(Path("a.CSV")) == "csv"
    assert guess_format(Path("a.parquet")) == "parquet"
    assert guess_format(Path("a.out")) == "jsonl"
    assert guess_format(Path("a.csv"), "jsonl") == "jsonl"
    with pytest.raises(ExportError, match="unknown format"):
        guess_format(Path("a"), "xml")


def test_jsonl_keeps_whole_products(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    writer = open_writer(out, "jsonl")
    for item in products():
        writer.write(item)
    writer.close()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["sku_id"] for row in rows][1] == "42"
    assert rows[0]["raw"]


def test_csv_has_fixed_flat_columns(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "p.csv"
    writer = open_writer(out, "csv")
    for item in products():
        writer.write(item)
    writer.close()
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == columns()
    assert rows[0]["price_masked"] == "true"
    assert rows[1]["sku_id"] == "42"
    assert rows[1]["price_current"] == ""


def test_parquet_roundtrip(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "p.parquet"
    writer = open_writer(out, "parquet")
    for item in products() * 3:
        writer.write(item)
    writer.close()
    table = pq.read_table(out)
    assert table.num_rows == 6
    assert table.column_names == columns()
    assert table.column("sku_id").to_pylist()[1] == "42"


def test_parquet_with_no_rows_still_writes_a_file(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "empty.parquet"
    open_writer(out, "parquet").close()
    assert pq.read_table(out).num_rows == 0
