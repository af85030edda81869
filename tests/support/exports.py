"""Product tables to export and what an export wrote.

* :func:`products`: two products as JSON (one from the abridged upstream fixture, one
  bare), the lines a writer receives;
* :func:`xlsx_rows`: the rows of an ``.xlsx`` file's products sheet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jditem.protocol.product import Product

FIXTURE = Path(__file__).parents[1] / "fixtures" / "jd-detail-v1-abridged.json"


def products() -> list[str]:
    """The fixture's product and a bare one (``sku_id`` 42), each as JSON."""
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    sample = Product.from_payload(payload.get("data", payload))
    return [sample.model_dump_json(), Product(sku_id="42", title="Bare", url="u").model_dump_json()]


def xlsx_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of the products sheet, keyed by the header (openpyxl reads what
    XlsxWriter wrote; the test is skipped without openpyxl)."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        header, *body = list(book["products"].iter_rows(values_only=True))
    finally:
        book.close()
    return [dict(zip(header, row, strict=True)) for row in body]
