"""A bulk job's downloads: the products as CSV or Excel, every item as JSON Lines.

The CSV and the Excel workbook are written by :mod:`jditem.formats` — the writers of
``jditem batch -o`` — so a console download and a CLI output have the same columns
(``requested_id``, ``id_mismatch``, the flattened product), ``true``/``false`` flags and
spreadsheet-safe text. The JSON Lines download is the job's own record of each item
(state, code, message, task, payload), exact.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sqlalchemy import select
from starlette.responses import Response, StreamingResponse

from jditem.formats import xlsx
from jditem.formats.writers import CsvWriter, FormatUnavailable
from jditem.protocol import Product
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.pages.jobs import job_or_404
from jditem.server.store.tables import BulkJobItem

router = APIRouter()

#: Rows read from the database (and written to a workbook) per step.
CHUNK = 500


async def _items(console: Console, job_id: str) -> AsyncIterator[list[BulkJobItem]]:
    """The job's items in order, in chunks, from a session of their own (the page's
    session is closed before a streamed body is sent)."""
    async with console.ctx.sessionmaker() as db:
        result = await db.stream_scalars(
            select(BulkJobItem)
            .where(BulkJobItem.job_id == job_id)
            .order_by(BulkJobItem.position)
            .execution_options(yield_per=CHUNK)
        )
        async for chunk in result.partitions(CHUNK):
            yield list(chunk)


def _product(item: BulkJobItem) -> Product | None:
    """The product of a succeeded item, normalised like the CLI's, or ``None``."""
    if item.state != "succeeded" or item.payload is None:
        return None
    return Product.from_payload(
        item.payload,
        sku_id=item.item_id,
        fetched_at=item.updated_at,
    )


def _attachment(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.get("/jobs/{job_id}/results.jsonl")
async def results_jsonl(job_id: str, console: ConsoleDep) -> Response:
    """One JSON line per item: id, state, code, message, task and the payload (``data``)."""
    job = await job_or_404(console, job_id)
    if isinstance(job, Response):
        return job

    async def lines() -> AsyncIterator[str]:
        async for chunk in _items(console, job_id):
            yield "".join(
                json.dumps(
                    {
                        "itemId": item.item_id,
                        "state": item.state,
                        "code": item.code,
                        "message": item.message,
                        "taskId": item.task_id,
                        "chargedUnits": item.charged,
                        "data": item.payload,
                    },
                    ensure_ascii=False,
                )
                + "\n"
                for item in chunk
            )

    body = StreamingResponse(lines(), media_type="application/x-ndjson")
    return _attachment(body, f"{job_id}.jsonl")


@router.get("/jobs/{job_id}/results.csv")
async def results_csv(job_id: str, console: ConsoleDep) -> Response:
    """The fetched products as CSV, one row per succeeded item: the columns of
    ``jditem batch -o out.csv`` (``requested_id``, ``id_mismatch``, the product's)."""
    job = await job_or_404(console, job_id)
    if isinstance(job, Response):
        return job

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = CsvWriter(buffer)
        async for chunk in _items(console, job_id):
            for item in chunk:
                product = _product(item)
                if product is not None:
                    writer.write_product(product, item.item_id)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    body = StreamingResponse(lines(), media_type="text/csv; charset=utf-8")
    return _attachment(body, f"{job_id}.csv")


@router.get("/jobs/{job_id}/results.xlsx")
async def results_xlsx(job_id: str, console: ConsoleDep) -> Response:
    """The fetched products as an Excel workbook: the CSV's columns, typed cells
    (numbers as numbers, ids as text). Needs ``jditem[excel]`` on the server."""
    job = await job_or_404(console, job_id)
    if isinstance(job, Response):
        return job
    if not xlsx.available():
        return console.render(
            "message.html",
            status_code=501,
            heading="Excel download not installed",
            message="This server cannot write Excel files: its operator installs them with "
            "pip install 'jditem[excel]'. The CSV download has the same columns.",
            link=f"/console/jobs/{job_id}",
            link_label="Back to the job",
        )
    target = io.BytesIO()
    try:
        writer = xlsx.XlsxWriter(target)
    except FormatUnavailable as exc:  # pragma: no cover - checked just above
        return Response(f"{exc}\n", status_code=501, media_type="text/plain")
    async for chunk in _items(console, job_id):
        products = [(product, item.item_id) for item in chunk if (product := _product(item))]
        # the rows of a chunk are CPU work: keep the event loop free for other requests
        await asyncio.to_thread(_add_all, writer, products)
    await asyncio.to_thread(writer.close)
    body = Response(
        target.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    return _attachment(body, f"{job_id}.xlsx")


def _add_all(writer: xlsx.XlsxWriter, products: list[tuple[Product, str]]) -> None:
    for product, requested_id in products:
        writer.write_product(product, requested_id)
