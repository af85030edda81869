"""Bulk jobs: paste or upload item ids / JD URLs, preview, follow progress, download.

The form (:mod:`.job_form`) reads the list like ``jditem batch`` does and shows what it
will submit and what it skipped before anything starts; the downloads are in
:mod:`.job_downloads`. An account member sees, runs and downloads only jobs charged to
its account's tokens (:func:`.scopes.jobs`); another account's job or token answers
like a missing one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from jditem.formats import xlsx
from jditem.protocol import Product
from jditem.protocol.product import Price
from jditem.server.console import forms, scopes
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.job_form import (
    MAX_FORM_BYTES,
    MAX_ITEMS,
    MAX_UPLOAD_BYTES,
    SIZE_ADVICE,
    JobDraft,
    JobInputError,
    JobPreview,
    preview,
    read_draft,
    skipped_lines,
)
from jditem.server.console.paging import MAX_ID
from jditem.server.jobs.runner import FINAL_ITEM_STATES, JobRunner
from jditem.server.store.tables import ApiToken, BulkJob, BulkJobItem

router = APIRouter()

ITEMS_SHOWN = 500
STATES = ("waiting", "pending", *FINAL_ITEM_STATES)


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
    """The app's job runner (started by the app's lifespan)."""
    runner: JobRunner = console.request.app.state.jobs
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
    console: Console,
    *,
    status_code: int = 200,
    error: str | None = None,
    draft: JobDraft | None = None,
    found: JobPreview | None = None,
    notice: str | None = None,
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
        notice=notice,
        draft=draft or JobDraft(),
        preview=found,
        skipped=skipped_lines(found),
        max_items=MAX_ITEMS,
    )


@router.get("/jobs")
async def jobs_page(console: ConsoleDep) -> Response:
    """Recent bulk jobs and the form to start one."""
    return await _render_list(console)


async def _token(console: Console, token_raw: str) -> ApiToken:
    """The enabled token ``token_raw`` names, if the signed-in person may charge it."""
    if not (token_raw.isascii() and token_raw.isdigit()) or len(token_raw) > 18:
        raise JobInputError("Choose the token the job is charged to.")
    token = None
    if int(token_raw) <= MAX_ID:  # larger: no such token (nor a valid query parameter)
        token = await console.db.scalar(
            select(ApiToken).where(ApiToken.id == int(token_raw), scopes.tokens(console.principal))
        )
    if token is None:
        raise JobInputError(f"There is no token with id {token_raw}; choose one from the list.")
    if not token.enabled:
        raise JobInputError(
            f"Token {token.prefix}… is disabled: enable it on the Tokens page or choose another."
        )
    return token


@router.post("/jobs")
async def create_job(console: ConsoleDep) -> Response:
    """Preview (``action=preview``) or start a job for the chosen token from pasted
    text and/or an uploaded file.

    A start shows the preview instead when the list differs from the one last
    previewed, or when lines were skipped and nothing was previewed. Every problem
    answers this page with status 400, every field as it was sent, and a message (size
    problems say the limits).
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
    draft, problem = await read_draft(form)
    found: JobPreview | None = None
    try:
        if problem is not None:
            raise JobInputError(problem)
        forms.text(form, "name")  # too long: says so
        forms.text(form, "id_column", max_len=200)
        found = preview(draft)
        if draft.action == "preview":
            return await _render_list(console, draft=draft, found=found)
        if draft.previewed and draft.previewed != found.digest:
            notice = "The list changed since the preview: check this one, then start the job."
            return await _render_list(console, draft=draft, found=found, notice=notice)
        if not draft.previewed and found.skipped_total:
            notice = "Some lines name no item: check what will be skipped, then start the job."
            return await _render_list(console, draft=draft, found=found, notice=notice)
        token = await _token(console, draft.token)
    except (JobInputError, forms.FormError) as exc:
        found = exc.preview if isinstance(exc, JobInputError) and exc.preview else found
        return await _render_list(
            console, status_code=400, error=str(exc), draft=draft, found=found
        )
    job_id = await runner_of(console).create(token.id, draft.name, found.ids)
    return console.redirect(f"/console/jobs/{job_id}")


async def _visible_job(console: Console, job_id: str) -> BulkJob | None:
    """The job if the signed-in person may see it (else ``None``, like a missing one)."""
    job: BulkJob | None = await console.db.scalar(
        select(BulkJob).where(BulkJob.id == job_id, scopes.jobs(console.principal))
    )
    return job


async def job_or_404(console: Console, job_id: str) -> BulkJob | Response:
    """The job if the signed-in person may see it, else the 404 page."""
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
    job = await job_or_404(console, job_id)
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
        excel=xlsx.available(),
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
    job = await job_or_404(console, job_id)
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
