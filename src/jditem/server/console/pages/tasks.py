"""Task Management: tasks filtered by status/item; task detail with the result JSON.

An account member sees the tasks its account's calls or bulk jobs used
(:func:`.scopes.tasks`); any other task answers 404.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from sqlalchemy import ColumnElement, select
from starlette.responses import Response

from jditem.protocol.ids import is_valid_item_id
from jditem.server.console import scopes
from jditem.server.console.deps import Console, ConsoleDep
from jditem.server.console.paging import PAGE_SIZE, Page, count_capped, page_number
from jditem.server.store.tables import (
    ACTIVE_TASK_STATUSES,
    FINAL_TASK_STATUSES,
    CachedResult,
    CallRecord,
    Task,
)

router = APIRouter()

STATUSES = (*ACTIVE_TASK_STATUSES, *FINAL_TASK_STATUSES)


def _not_found(console: Console, task_id: str) -> Response:
    return console.render(
        "message.html",
        status_code=404,
        heading="No such task",
        message=f"There is no task {task_id!r}. Search the task list by item id instead.",
        link="/console/tasks",
        link_label="Back to Task Management",
    )


async def _task(console: Console, task_id: str) -> Task | None:
    """The task if the signed-in person may see it (else ``None``, like a missing one)."""
    if len(task_id) > 40:
        return None
    task: Task | None = await console.db.scalar(
        select(Task).where(Task.id == task_id, scopes.tasks(console.principal))
    )
    return task


async def _result_for(console: Console, task: Task) -> CachedResult | None:
    """The stored result written by this task (the item's latest result, if it is this task's)."""
    cached = await console.db.get(CachedResult, task.item_id)
    return cached if cached is not None and cached.task_id == task.id else None


@router.get("/tasks")
async def tasks_page(console: ConsoleDep) -> Response:
    """Tasks, newest first, filtered by status and item id."""
    params = console.request.query_params
    conditions: list[ColumnElement[bool]] = [scopes.tasks(console.principal)]
    query: dict[str, str] = {}
    error = None
    status = params.get("status", "").strip()
    if status:
        if status in STATUSES:
            conditions.append(Task.status == status)
            query["status"] = status
        else:
            error = f"Unknown status {status!r}; pick one of: {', '.join(STATUSES)}."
    item = params.get("item", "").strip()
    if item:
        if is_valid_item_id(item):
            conditions.append(Task.item_id == item)
            query["item"] = item
        else:
            error = f"Item id must be 1-20 digits, not {item!r}."
    job = params.get("job", "").strip()
    if job:
        conditions.append(Task.job_id == job)
        query["job"] = job
    total, capped = await count_capped(console.db, select(Task.id).where(*conditions))
    page = Page(page_number(params.get("page")), PAGE_SIZE, total, capped, query)
    tasks = (
        await console.db.scalars(
            select(Task)
            .where(*conditions)
            .order_by(Task.submitted_at.desc(), Task.id.desc())
            .limit(page.size)
            .offset(page.offset)
        )
    ).all()
    return console.render(
        "tasks.html",
        status_code=400 if error else 200,
        tasks=tasks,
        page=page,
        statuses=STATUSES,
        params=params,
        error=error,
    )


@router.get("/tasks/{task_id}")
async def task_detail(task_id: str, console: ConsoleDep) -> Response:
    """One task: its attempts, times, error, the calls that touched it, and the result."""
    task = await _task(console, task_id)
    if task is None:
        return _not_found(console, task_id)
    cached = await _result_for(console, task)
    calls = (
        await console.db.scalars(
            select(CallRecord)
            .where(
                CallRecord.item_id == task.item_id,
                CallRecord.task_id == task.id,
                scopes.calls(console.principal),
            )
            .order_by(CallRecord.created_at.desc())
            .limit(50)
        )
    ).all()
    pretty = (
        json.dumps(cached.payload, ensure_ascii=False, indent=2)
        if cached is not None and cached.payload is not None
        else None
    )
    return console.render("task.html", task=task, cached=cached, pretty=pretty, calls=calls)


@router.get("/tasks/{task_id}/result.json")
async def task_result(task_id: str, console: ConsoleDep) -> Response:
    """Download the result JSON of a task (the collector's payload, unchanged)."""
    task = await _task(console, task_id)
    if task is None:
        return _not_found(console, task_id)
    cached = await _result_for(console, task)
    if cached is None or cached.payload is None:
        return console.render(
            "message.html",
            status_code=404,
            heading="No result to download",
            message=(
                f"Task {task_id} has no stored product result (status {task.status}). "
                "Only succeeded tasks whose result is still the item's latest have one."
            ),
            link=f"/console/tasks/{task_id}",
            link_label="Back to the task",
        )
    body = json.dumps(cached.payload, ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{task.item_id}-{task.id}.json"'},
    )
