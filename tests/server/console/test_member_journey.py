"""An account member's first session, in a real browser (Playwright + Debian's Chromium).

The member sets its password through the one-time link, signs in, creates a token with
a budget, uploads a CSV with a header and a bad line, checks the preview, runs the bulk
job with it, downloads the results as CSV and Excel and sees the spend — and never sees
the other account on the server. Screenshots go to ``test-output/console/``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Page

from jditem.server.console.formatting import money
from tests.server.console.member_client import PASSWORD, add_member
from tests.support.backends import Backend
from tests.support.browser import BROWSER_TESTS, SHOTS, browser_tab
from tests.support.live_server import LiveServer, live_server

pytestmark = BROWSER_TESTS

EMAIL = "mei@globex.example"
ITEMS = [str(800_000 + i) for i in range(12)]
#: A spreadsheet's export: a header, an item URL, a bad line (line 4), a repeated id.
SKUS_CSV = (
    "sku,name,price_hint\n"
    + "\n".join(
        [
            f"{ITEMS[0]},mug,12",
            f"https://item.jd.com/{ITEMS[1]}.html,cup,9",
            "not-a-sku,typo,0",
            *(f"{item},thing {n},1" for n, item in enumerate(ITEMS[2:])),
            f"{ITEMS[0]},mug again,12",
        ]
    )
    + "\n"
)


@pytest.fixture(scope="module")
def server(backend: Backend) -> Iterator[LiveServer]:
    with backend.database(), live_server() as live:
        yield live


@pytest.fixture
def page(server: LiveServer) -> Iterator[tuple[Page, list[str]]]:
    with browser_tab(server.base_url) as tab:
        yield tab


def test_a_member_signs_in_creates_a_token_runs_a_job_and_sees_the_spend(
    server: LiveServer, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    server.get("100012043978", server.make_token("acme", balance_yuan="9", name="acme-secret"))
    server.make_token("globex", balance_yuan="30", name="globex-ops")
    link = add_member(server, EMAIL, "globex")

    tab.goto(link)
    tab.screenshot(path=str(SHOTS / "member-set-password.png"), full_page=True)
    tab.fill("#set-password-form input[name=password]", PASSWORD)
    tab.fill("#set-password-form input[name=again]", PASSWORD)
    tab.click("#set-password-form button[type=submit]")
    tab.wait_for_url("**/console/login**")
    tab.goto(link)  # the link was for one use only: a 404 page
    assert "unknown, already used or expired" in tab.content()

    tab.goto("/console/login")
    tab.fill("#member-login-form input[name=email]", EMAIL)
    tab.fill("#member-login-form input[name=password]", PASSWORD)
    tab.click("#member-login-form button[type=submit]")
    tab.wait_for_url("**/console")
    tab.screenshot(path=str(SHOTS / "member-overview.png"), full_page=True)
    assert "globex" in tab.content()
    assert "acme" not in tab.content()

    # A token with a budget of 5 yuan; the full token is shown once.
    tab.goto("/console/tokens")
    tab.fill("#create-token input[name=name]", "mei-batch")
    tab.fill("#create-token input[name=budget]", "5")
    tab.click("#create-token button[type=submit]")
    raw = tab.locator("#new-token-value").inner_text().strip()
    assert raw.startswith("jd_")
    tab.screenshot(path=str(SHOTS / "member-token-created.png"), full_page=True)
    assert "acme-secret" not in tab.content()

    # A bulk job charged to that token, from the CSV a spreadsheet exports: a header, a
    # bad line. The preview says what will be submitted and what is skipped (line 4).
    tab.goto("/console/jobs")
    token_id = server.scalar("SELECT id FROM tokens WHERE name = 'mei-batch'")
    tab.select_option("#job-form select[name=token]", str(token_id))
    tab.fill("#job-form input[name=name]", "spring mugs")
    upload = {"name": "skus.csv", "mimeType": "text/csv", "buffer": SKUS_CSV.encode()}
    tab.set_input_files("#job-form input[name=file]", upload)
    tab.click("#preview-job")
    tab.wait_for_selector("#job-preview")
    preview = tab.locator("#job-preview").inner_text()
    assert f"{len(ITEMS)} items will be submitted" in preview
    assert "1 line skipped" in preview
    assert "not-a-sku" in preview
    skipped = tab.locator("#preview-skipped tbody tr").first.inner_text()
    assert "\t4\t" in f"\t{skipped}\t"  # line 4 of the file
    # every field kept: the token chosen, the name, the file
    assert tab.locator("#job-form select[name=token]").input_value() == str(token_id)
    assert tab.locator("#job-form input[name=name]").input_value() == "spring mugs"
    assert "skus.csv" in tab.locator("#kept-file").inner_text()
    tab.screenshot(path=str(SHOTS / "member-job-preview.png"), full_page=True)
    tab.click("#start-job")
    tab.wait_for_url("**/console/jobs/j_*")
    tab.wait_for_selector("#download-csv", timeout=120_000)
    tab.screenshot(path=str(SHOTS / "member-job-done.png"), full_page=True)
    with tab.expect_download() as info:
        tab.click("#download-csv")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text("utf-8"))))
    assert {row["sku_id"] for row in rows} == set(ITEMS)
    assert all(row["requested_id"] == row["sku_id"] for row in rows)
    assert {row["id_mismatch"] for row in rows} == {"false"}
    title = rows[0]["title"]
    assert title
    assert title in tab.content()
    with tab.expect_download() as info:
        tab.click("#download-xlsx")
    assert info.value.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()), read_only=True)
    try:
        header, *cells = list(book["products"].iter_rows(values_only=True))
    finally:
        book.close()
    sheet_rows = [dict(zip(header, row, strict=True)) for row in cells]
    assert {row["sku_id"] for row in sheet_rows} == set(ITEMS)  # ids as text
    assert any(isinstance(row["price_original"], float) for row in sheet_rows)  # numbers

    # The spend: the token's spent amount on the tokens page, the spending page renders.
    spent = int(server.scalar("SELECT spent FROM tokens WHERE name = 'mei-batch'"))
    assert spent > 0
    tab.goto("/console/tokens")
    assert money(spent) in tab.content()
    assert "created by the operator" in tab.content()  # globex-ops: hers to use, not to change
    tab.screenshot(path=str(SHOTS / "member-tokens-spent.png"), full_page=True)
    response = tab.goto("/console/spending")
    assert response is not None
    assert response.status == 200
    tab.screenshot(path=str(SHOTS / "member-spending.png"), full_page=True)
    assert "acme" not in tab.content()

    # The other account's pages do not exist for this member.
    response = tab.goto("/console/upstream")
    assert response is not None
    assert response.status == 404
    # the browser logs the two 404 answers this journey asked for, and nothing else
    expected = ("/console/set-password?key=", "/console/upstream: ")
    unexpected = [e for e in errors if not ("status of 404" in e and any(p in e for p in expected))]
    assert unexpected == [], unexpected
