"""Exporters: JSON Lines, CSV, Parquet and Excel of the flattened core fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from jditem.batch.export import ExportError, columns, guess_format, open_writer
from jditem.protocol.product import Product
from tests.support.exports import products, xlsx_rows


def test_guess_format() -> None:
    assert guess_format(Path("a.CSV")) == "csv"
    assert guess_format(Path("a.parquet")) == "parquet"
    assert guess_format(Path("a.out"), "jsonl") == "jsonl"
    assert guess_format(Path("a.csv"), "jsonl") == "jsonl"
    with pytest.raises(ExportError, match="unknown format"):
        guess_format(Path("a"), "xml")


@pytest.mark.parametrize("name", ["out.xls", "out", "out.txt"])
def test_an_unknown_suffix_is_an_error_not_jsonl(name: str) -> None:
    """Today's main wrote JSON Lines into ``out.xlsx``."""
    with pytest.raises(ExportError, match="--format"):
        guess_format(Path(name))


def test_jsonl_leaves_raw_out_unless_asked(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    writer = open_writer(out, "jsonl")
    for item in products():
        writer.write(item)
    writer.close()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["sku_id"] for row in rows][1] == "42"
    assert "raw" not in rows[0]
    with_raw = tmp_path / "raw.jsonl"
    writer = open_writer(with_raw, "jsonl", raw=True)
    writer.write(products()[0])
    writer.close()
    assert json.loads(with_raw.read_text(encoding="utf-8"))["raw"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "xlsx"])
def test_every_row_carries_the_requested_id_and_flags_a_mismatch(tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"p.{fmt}"
    writer = open_writer(out, fmt)  # type: ignore[arg-type]
    bare = Product(sku_id="42", title="Bare", url="u").model_dump_json()
    writer.write(bare, "42")
    writer.write(bare, "43")  # the server answered for another item
    writer.write(bare)
    writer.close()
    assert writer.mismatches == 1
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    elif fmt == "csv":
        with out.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    elif fmt == "xlsx":
        rows = xlsx_rows(out)
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(out).to_pylist()
    got = [(str(r["requested_id"]), str(r["id_mismatch"]).lower(), r["sku_id"]) for r in rows]
    assert got == [("42", "false", "42"), ("43", "true", "42"), ("42", "false", "42")]


def test_csv_bom_for_excel(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    writer = open_writer(out, "csv", bom=True)
    writer.write(products()[0])
    writer.close()
    assert out.read_bytes().startswith(b"\xef\xbb\xbfrequested_id,")
    plain = tmp_path / "plain.csv"
    open_writer(plain, "csv").close()
    assert plain.read_bytes().startswith(b"requested_id,")


def test_parquet_columns_are_typed(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "typed.parquet"
    writer = open_writer(out, "parquet")
    for item in products():
        writer.write(item)
    writer.close()
    schema = pq.read_schema(out)
    assert pa.types.is_decimal(schema.field("price_current").type)
    assert pa.types.is_decimal(schema.field("price_original").type)
    assert pa.types.is_timestamp(schema.field("fetched_at").type)
    assert pa.types.is_boolean(schema.field("in_stock").type)
    assert pa.types.is_integer(schema.field("stock_state").type)
    assert pa.types.is_boolean(schema.field("id_mismatch").type)
    row = pq.read_table(out).to_pylist()[0]
    expected = Product.model_validate_json(products()[0]).price.original
    if expected is not None:
        assert row["price_original"] == expected


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


def test_jsonl_rows_equal_the_parsed_product_on_fast_and_slow_paths(tmp_path: Path) -> None:
    """The JSONL writer cuts ``raw`` by string surgery; a nested ``"raw"`` key (here in a
    promotion) or an odd id takes the parsing path. Both give the same rows."""
    odd = Product(sku_id='4"2', title="Odd", url="u").model_dump_json()
    nested = Product(
        sku_id="7", title="N", url="u", promotions=[{"raw": {"x": 1}}], raw={"a": 1}
    ).model_dump_json()
    for raw in (False, True):
        out = tmp_path / f"p{raw}.jsonl"
        writer = open_writer(out, "jsonl", raw=raw)
        sources = [*products(), odd, nested]
        for item in sources:
            writer.write(item, "7")
        writer.close()
        got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        for row, source in zip(got, sources, strict=True):
            expected = json.loads(source)
            if not raw:
                expected.pop("raw")
            mismatch = expected["sku_id"] != "7"
            assert row == {"requested_id": "7", "id_mismatch": mismatch, **expected}
