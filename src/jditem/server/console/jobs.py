"""Bulk jobs: paste or upload item ids / JD URLs, follow progress, download results.

An account member sees, runs and downloads only jobs charged to its account's tokens
(:func:`.scopes.jobs`); another account's job or token answers like a missing one.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from jditem.protocol import Product
from jditem.protocol.ids import parse_item_ref
from jditem.protocol.normalize import FLAT_COLUMNS
from jditem.protocol.product import Price
from jditem.server.console import forms, scopes
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.paging import MAX_ID
from jditem.server.console.runner import FINAL_ITEM_STATES, JobRunner
from jditem.server.store.tables import ApiToken, BulkJob, BulkJobItem
from jditem.server.tasks.clock import as_utc

router = APIRouter()

MAX_ITEMS = 10_000
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: Largest job form accepted (a full paste box plus a full file, and the other fields).
MAX_FORM_BYTES = 2 * MAX_UPLOAD_BYTES + 64 * 1024
#: Most characters of a refused paste shown again in the form.
MAX_DRAFT_CHARS = 200_000
SIZE_ADVICE = (
    f"at most {MAX_ITEMS:,} items per job, and at most 5 MB of pasted text and 5 MB of file"
)
ITEMS_SHOWN = 500
_SEPARATORS = re.compile(r"[\s,;]+")
_HEADER_WORDS = {"itemid", "item_id", "item", "sku", "sku_id", "skuid", "id", "url"}
STATES = ("waiting", "pending", *FINAL_ITEM_STATES)


class JobInputError(ValueError):
    """The submitted list cannot become a job; the message says what to fix."""


def parse_items(text: str) -> tuple[list[str], int]:
    """Item ids from pasted/uploaded text (ids or JD URLs; any whitespace, comma or ``;``).

    Returns the ids in first-seen order without duplicates, and how many duplicates
    were dropped. Raises :class:`JobInputError` listing unreadable entries.
    """
    ids: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    duplicates = 0
    for entry in _SEPARATORS.split(text):
        entry = entry.strip().strip("\"'")
        if not entry or entry.lower() in _HEADER_WORDS:
            continue
        item_id = parse_item_ref(entry)
        if item_id is None:
            bad.append(entry)
            continue
        if item_id in seen:
            duplicates += 1
            continue
        seen.add(item_id)
        ids.append(item_id)
    if bad:
        shown = ", ".join(repr(b[:60]) for b in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise JobInputError(
            f"{len(bad)} entries are neither item ids nor JD item URLs: {shown}{more}. "
            "Fix or remove them (one id or URL per line, e.g. 100012043978 or "
            "https://item.jd.com/100012043978.html)."
        )
    if not ids:
        raise JobInputError("The list is empty: paste item ids or JD URLs, or upload a file.")
    if len(ids) > MAX_ITEMS:
        raise JobInputError(
            f"{len(ids)} items is more than {MAX_ITEMS} per job: split the list into several "
            f"jobs ({SIZE_ADVICE})."
        )
    return ids, duplicates


def price_text(price: Price) -> str:
    """A product's price for the item table: the current price, else the promo price,
    else JD's masked display (``6??``), else the list price."""
    if price.current is not None and not price.masked:
        return f"¥{price.current}"
    if price.promo is not None:
        return f"¥{price.promo} promo"
    if price.display:
        return price.display
    if price.original is not None:
        return f"¥{price.original} list"
    return ""


def item_summary(item: BulkJobItem) -> tuple[str, str]:
    """Title and price of a fetched item, read from its stored payload through the
    shared normaliser (empty for items without a product)."""
    if item.payload is None:
        return "", ""
    try:
        product = Product.from_payload(item.payload, sku_id=item.item_id)
    except ValueError:  # not a JSON object: nothing to show
        return "", ""
    return product.title or "", price_text(product.price)


def runner_of(console: Console) -> JobRunner:
    """The app's job runner (created by the console's lifespan hook)."""
    runner: JobRunner = console.request.app.state.console_jobs
    return runner


async def _counts(console: Console, job_ids: list[str]) -> dict[str, dict[str, int]]:
    if not job_ids:
        return {}
    rows = await console.db.execute(
        select(BulkJobItem.job_id, BulkJobItem.state, func.count())
        .where(BulkJobItem.job_id.in_(job_ids))
        .group_by(BulkJobItem.job_id, BulkJobItem.state)
    )
    counts: dict[str, dict[str, int]] = {job_id: dict.fromkeys(STATES, 0) for job_id in job_ids}
    for job_id, state, count in rows:
        counts[job_id][state] = int(count)
    return counts


def _progress(job: BulkJob, counts: dict[str, int]) -> dict[str, Any]:
    final = sum(counts.get(state, 0) for state in FINAL_ITEM_STATES)
    return {
        "id": job.id,
        "status": job.status,
        "total": job.total,
        "counts": counts,
        "percent": round(100 * final / job.total, 1) if job.total else 100.0,
        "finished": job.status in ("done", "stopped"),
        "stopReason": job.stop_reason,
    }


async def _render_list(
    console: Console, *, status_code: int = 200, error: str | None = None, draft: str = ""
) -> Response:
    jobs = (
        await console.db.scalars(
            select(BulkJob)
            .where(scopes.jobs(console.principal))
            .order_by(BulkJob.created_at.desc())
            .limit(50)
        )
    ).all()
    counts = await _counts(console, [job.id for job in jobs])
    tokens = (
        await console.db.execute(
            select(ApiToken.id, ApiToken.prefix, ApiToken.name, ApiToken.enabled)
            .where(scopes.tokens(console.principal))
            .order_by(ApiToken.id)
        )
    ).all()
    token_names = {tid: f"{prefix}… {name}".strip() for tid, prefix, name, _e in tokens}
    return console.render(
        "jobs.html",
        status_code=status_code,
        jobs=[(job, _progress(job, counts[job.id])) for job in jobs],
        tokens=tokens,
        token_names=token_names,
        error=error,
        draft=draft,
        max_items=MAX_ITEMS,
    )


@router.get("/jobs")
async def jobs_page(console: ConsoleDep) -> Response:
    """Recent bulk jobs and the form to start one."""
    return await _render_list(console)


async def _submitted_text(form: Any) -> str:
    pasted = form.get("items")
    if isinstance(pasted, str) and len(pasted.encode("utf-8")) > MAX_UPLOAD_BYTES:
        raise JobInputError(f"The pasted list is larger than 5 MB: {SIZE_ADVICE}.")
    parts = [pasted.strip() if isinstance(pasted, str) else ""]
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise JobInputError(f"The uploaded file is larger than 5 MB: {SIZE_ADVICE}.")
        try:
            parts.append(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise JobInputError(
                "The uploaded file is not UTF-8 text: upload a .txt or .csv of ids or URLs."
            ) from None
    return "\n".join(parts)


@router.post("/jobs")
async def create_job(console: ConsoleDep) -> Response:
    """Start a job for the chosen token from pasted text and/or an uploaded file.

    Every size problem (too many items, a paste or file over 5 MB, a form too large to
    read) answers this page with status 400 and a message saying the limits.
    """
    length = console.request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > MAX_FORM_BYTES:
        return await _render_list(
            console, status_code=400, error=f"The form is too large: {SIZE_ADVICE}."
        )
    try:
        form = await console.form(max_part_size=MAX_UPLOAD_BYTES)
    except HTTPException as exc:  # Starlette's multipart limits
        return await _render_list(
            console,
            status_code=400,
            error=f"The form could not be read ({exc.detail}): {SIZE_ADVICE}.",
        )
    pasted = form.get("items")
    pasted = pasted[:MAX_DRAFT_CHARS] if isinstance(pasted, str) else ""
    try:
        token_raw = forms.text(form, "token")
        if not (token_raw.isascii() and token_raw.isdigit()) or len(token_raw) > 18:
            raise JobInputError("Choose the token the job is charged to.")
        token = None
        if int(token_raw) <= MAX_ID:  # larger: no such token (nor a valid query parameter)
            token = await console.db.scalar(
                select(ApiToken).where(
                    ApiToken.id == int(token_raw), scopes.tokens(console.principal)
                )
            )
        if token is None:
            raise JobInputError(f"There is no token with id {token_raw}; choose one from the list.")
        if not token.enabled:
            raise JobInputError(
                f"Token {token.prefix}… is disabled: enable it on the Tokens page "
                "or choose another."
            )
        ids, _duplicates = parse_items(await _submitted_text(form))
        name = forms.text(form, "name")
    except (JobInputError, forms.FormError) as exc:
        return await _render_list(console, status_code=400, error=str(exc), draft=pasted)
    job_id = await runner_of(console).create(token.id, name, ids)
    return console.redirect(f"/console/jobs/{job_id}")


async def _visible_job(console: Console, job_id: str) -> BulkJob | None:
    """The job if the signed-in person may see it (else ``None``, like a missing one)."""
    job: BulkJob | None = await console.db.scalar(
        select(BulkJob).where(BulkJob.id == job_id, scopes.jobs(console.principal))
    )
    return job


async def _job_or_404(console: Console, job_id: str) -> BulkJob | Response:
    job = await _visible_job(console, job_id)
    if job is None:
        return console.render(
            "message.html",
            status_code=404,
            heading="No such job",
            message=f"There is no bulk job {job_id!r}. Pick one from the list.",
            link="/console/jobs",
            link_label="Back to bulk jobs",
        )
    return job


@router.get("/jobs/{job_id}")
async def job_page(job_id: str, console: ConsoleDep) -> Response:
    """Live progress of one job, its items, and the downloads."""
    job = await _job_or_404(console, job_id)
    if isinstance(job, Response):
        return job
    counts = (await _counts(console, [job.id]))[job.id]
    items = (
        await console.db.scalars(
            select(BulkJobItem)
            .where(BulkJobItem.job_id == job.id)
            .order_by(BulkJobItem.position)
            .limit(ITEMS_SHOWN)
        )
    ).all()
    charged = await console.db.scalar(
        select(func.coalesce(func.sum(BulkJobItem.charged), 0)).where(BulkJobItem.job_id == job.id)
    )
    token = await console.db.get(ApiToken, job.token_id)
    return console.render(
        "job.html",
        job=job,
        progress=_progress(job, counts),
        items=[(item, *item_summary(item)) for item in items],
        items_shown=ITEMS_SHOWN,
        charged=int(charged or 0),
        token=token,
        states=STATES,
        running_here=runner_of(console).is_running(job.id),
    )


@router.get("/jobs/{job_id}/progress.json")
async def job_progress(job_id: str, console: ConsoleDep) -> Response:
    """Progress as JSON, polled by the job page."""
    job = await _visible_job(console, job_id)
    if job is None:
        return JSONResponse({"error": f"no bulk job {job_id!r}"}, status_code=404)
    counts = (await _counts(console, [job.id]))[job.id]
    return JSONResponse(_progress(job, counts), headers={"Cache-Control": "no-store"})


@router.post("/jobs/{job_id}/resume")
async def resume_job(job_id: str, console: ConsoleDep) -> Response:
    """Fetch the skipped items of a stopped job again (after fixing what stopped it)."""
    await console.form()
    job = await _job_or_404(console, job_id)
    if isinstance(job, Response):
        return job
    if not await runner_of(console).resume(job_id):
        return console.render(
            "message.html",
            status_code=409,
            heading="Cannot resume",
            message="Only a stopped job can be resumed; this one is missing, running or done.",
            link=f"/console/jobs/{job_id}",
            link_label="Back to the job",
        )
    return console.redirect(f"/console/jobs/{job_id}")


def _result_rows(console: Console, job_id: str) -> AsyncIterator[BulkJobItem]:
    sessionmaker = console.ctx.sessionmaker

    async def rows() -> AsyncIterator[BulkJobItem]:
        async with sessionmaker() as db:
            result = await db.stream_scalars(
                select(BulkJobItem)
                .where(BulkJobItem.job_id == job_id)
                .order_by(BulkJobItem.position)
                .execution_options(yield_per=500)
            )
            async for item in result:
                yield item

    return rows()


def _download(body: AsyncIterator[str], media_type: str, filename: str) -> Response:
    response = StreamingResponse(body, media_type=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.get("/jobs/{job_id}/results.jsonl")
async def results_jsonl(job_id: str, console: ConsoleDep) -> Response:
    """One JSON line per item: id, state, code, message, task and the payload (``data``)."""
    job = await _job_or_404(console, job_id)
    if isinstance(job, Response):
        return job

    async def lines() -> AsyncIterator[str]:
        async for item in _result_rows(console, job_id):
            record = {
                "itemId": item.item_id,
                "state": item.state,
                "code": item.code,
                "message": item.message,
                "taskId": item.task_id,
                "chargedUnits": item.charged,
                "data": item.payload,
            }
            yield json.dumps(record, ensure_ascii=False) + "\n"

    return _download(lines(), "application/x-ndjson", f"{job_id}.jsonl")


@router.get("/jobs/{job_id}/results.csv")
async def results_csv(job_id: str, console: ConsoleDep) -> Response:
    """The fetched products as CSV, one row per succeeded item (``Product.flat()`` columns)."""
    job = await _job_or_404(console, job_id)
    if isinstance(job, Response):
        return job

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(FLAT_COLUMNS))
        writer.writeheader()
        async for item in _result_rows(console, job_id):
            if item.state != "succeeded" or item.payload is None:
                continue
            product = Product.from_payload(
                item.payload,
                sku_id=item.item_id,
                fetched_at=as_utc(item.updated_at) if item.updated_at else None,
            )
            writer.writerow({k: "" if v is None else v for k, v in product.flat().items()})
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return _download(lines(), "text/csv; charset=utf-8", f"{job_id}.csv")
