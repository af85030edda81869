"""The bulk-job form on a real server: it reads lists like ``jditem batch`` (issue 18
item 1), previews them, and keeps every field; its CSV is the CLI's CSV (item 7),
formula-safe (issue 16 item 8), with an Excel twin (item 5)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from jditem.formats.table import columns
from tests.server.console.conftest import ConsoleClient
from tests.support.bulk_jobs import token_id_of, wait_for_job
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.usefixtures("backend")

SKUS = (
    "sku,name,price_hint\n"
    "700000001,blue mug,12\n"
    "https://item.jd.com/700000002.html,red mug,13\n"
    "not-a-sku,bad row,0\n"
    "700000001,blue mug again,12\n"
    "700000003,green mug,14\n"
)
IDS = ["700000001", "700000002", "700000003"]
_PREVIEWED = re.compile(r'name="previewed" value="(\w+)"')
_FILE_TEXT = re.compile(r'<textarea name="file_text" hidden>\n(.*?)</textarea>', re.S)


def _upload(text: str, name: str = "skus.csv") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, text.encode(), "text/csv")}


def _job_ids(server: LiveServer) -> set[str]:
    return {str(row[0]) for row in server.rows("SELECT id FROM bulk_jobs")}


def test_a_csv_with_a_header_and_a_bad_line_is_previewed_then_started(
    console: ConsoleClient, server: LiveServer
) -> None:
    server.make_token("acme", balance_yuan="1", name="csv-upload")
    token_id = token_id_of(server, "csv-upload")
    form = {"token": str(token_id), "name": "mugs", "items": "", "action": "preview"}
    before = _job_ids(server)
    page = console.post("/console/jobs", form, files=_upload(SKUS))
    assert page.status_code == 200, page.text[:500]
    assert _job_ids(server) == before  # a preview starts nothing
    text = page.text
    assert "3 items</strong> will be submitted" in text
    assert "1 repeated id collapsed" in text
    assert "1 line skipped" in text
    assert "ids from column <code>sku</code> of sku, name, price_hint" in text
    assert '<td class="num">4</td><td class="mono">not-a-sku</td>' in text  # line 4
    # every field comes back: token, name, the file (carried as text), its name
    assert f'<option value="{token_id}" selected>' in text
    assert 'name="name" maxlength="100" value="mugs"' in text
    kept = _FILE_TEXT.search(text)
    assert kept
    assert kept.group(1).replace("&#34;", '"') == SKUS
    assert 'name="file_name" value="skus.csv"' in text
    digest = _PREVIEWED.search(text)
    assert digest

    # "Start" sends the form back as the browser would: no file, its kept text
    start = {
        **form,
        "action": "start",
        "previewed": digest.group(1),
        "file_name": "skus.csv",
        "file_text": kept.group(1),
    }
    started = console.post("/console/jobs", start)
    assert started.status_code == 303, started.text[:500]
    job_id = started.headers["location"].rsplit("/", 1)[1]
    wait_for_job(console, job_id)
    listed = server.rows(
        "SELECT item_id FROM bulk_job_items WHERE job_id = :j ORDER BY position", j=job_id
    )
    assert [row[0] for row in listed] == IDS


def test_every_field_is_kept_after_an_error(console: ConsoleClient, server: LiveServer) -> None:
    server.make_token("acme", name="first-token")
    server.make_token("acme", name="second-token")
    second = token_id_of(server, "second-token")
    form = {
        "token": str(second),
        "name": "keep me",
        "items": "sku;name\n700000009;x",
        "id_column": "nope",
        "action": "preview",
    }
    page = console.post("/console/jobs", form, files=_upload(SKUS))
    assert page.status_code == 400
    assert "no column &#39;nope&#39;" in page.text
    assert f'<option value="{second}" selected>' in page.text  # not reset to the first
    assert 'value="keep me"' in page.text
    assert 'name="id_column" maxlength="200" value="nope"' in page.text
    assert "sku;name\n700000009;x</textarea>" in page.text
    assert 'name="file_name" value="skus.csv"' in page.text

    console.post(f"/console/tokens/{second}/enabled", {"enabled": "0"})
    start = {"token": str(second), "name": "keep me", "items": "700000009", "action": "start"}
    refused = console.post("/console/jobs", start)
    assert refused.status_code == 400
    assert "is disabled" in refused.text
    assert f'<option value="{second}" disabled selected>' in refused.text
    assert 'value="keep me"' in refused.text
    assert "\n700000009</textarea>" in refused.text


def test_a_start_shows_the_preview_when_the_list_changed_or_lines_were_skipped(
    console: ConsoleClient, server: LiveServer
) -> None:
    server.make_token("acme", balance_yuan="1", name="stale")
    token = str(token_id_of(server, "stale"))
    first = console.post("/console/jobs", {"token": token, "items": "1\n2", "action": "preview"})
    digest = _PREVIEWED.search(first.text)
    assert digest
    before = _job_ids(server)
    changed = console.post(
        "/console/jobs", {"token": token, "items": "1\n2\n3", "previewed": digest.group(1)}
    )
    assert changed.status_code == 200
    assert "The list changed since the preview" in changed.text
    assert "3 items</strong> will be submitted" in changed.text
    unseen = console.post("/console/jobs", {"token": token, "items": "1\nnot-an-id"})
    assert unseen.status_code == 200
    assert "check what will be skipped" in unseen.text
    assert _job_ids(server) == before


def test_job_csv_is_the_cli_csv_and_formula_safe_with_an_excel_twin(
    console: ConsoleClient, server: LiveServer
) -> None:
    server.make_token("acme", balance_yuan="1", name="export")
    token = str(token_id_of(server, "export"))
    started = console.post("/console/jobs", {"token": token, "items": "710000001\n710000002"})
    job_id = started.headers["location"].rsplit("/", 1)[1]
    wait_for_job(console, job_id)
    # a product whose title would run as a formula in a spreadsheet
    evil = '=HYPERLINK("http://evil.example","x")'
    payload = {"product": {"skuId": "710000001", "skuName": evil}}
    server.execute(
        "UPDATE bulk_job_items SET payload = :p WHERE job_id = :j AND item_id = '710000001'",
        p=json.dumps(payload),
        j=job_id,
    )

    response = console.get(f"/console/jobs/{job_id}/results.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == columns()
    assert [(r["requested_id"], r["id_mismatch"]) for r in rows] == [
        ("710000001", "false"),
        ("710000002", "false"),
    ]
    assert rows[0]["title"] == "'" + evil
    assert rows[1]["in_stock"] in ("true", "false", "")

    openpyxl = pytest.importorskip("openpyxl")
    workbook = console.get(f"/console/jobs/{job_id}/results.xlsx")
    assert workbook.status_code == 200
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content))["products"]
    header = [cell.value for cell in sheet[1]]
    assert header == columns()
    title = sheet.cell(row=2, column=header.index("title") + 1)
    assert title.value == evil
    assert title.quotePrefix
    assert sheet.cell(row=3, column=header.index("sku_id") + 1).value == "710000002"
    assert 'id="download-xlsx"' in console.get(f"/console/jobs/{job_id}").text
