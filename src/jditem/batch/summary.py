"""The end-of-run summary of ``jditem batch``: counts, calls by code, and what to do next."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

from jditem import errors
from jditem.batch.job import JobReport
from jditem.batch.job_files import resume_command
from jditem.wording import plural


def _fatal_advice(error: errors.JditemError, job: str, tz: tzinfo | None = None) -> list[str]:
    again = resume_command(job)
    if isinstance(error, errors.QuotaExceededError):
        when = (
            error.reset_at.astimezone(tz).isoformat(timespec="seconds")
            if error.reset_at
            else "the next quota day"
        )
        return [
            "Stopped: the token's daily quota is used up (code 303).",
            f"The quota resets at {when}; then continue with: {again}",
        ]
    if isinstance(error, errors.BudgetExhaustedError):
        return [
            "Stopped: this token's budget is exhausted (code 602).",
            "Raise the budget (jditem admin token update REF --budget YUAN) or use another "
            f"token, then continue with: {again}",
        ]
    if isinstance(error, errors.InsufficientBalanceError):
        return [
            "Stopped: the account balance is too low (code 601).",
            f"Top up the account (jditem admin balance topup …), then continue with: {again}",
        ]
    if isinstance(error, errors.InvalidTokenError):
        return [
            "Stopped: the token is invalid or disabled (code 100).",
            f"Set a valid token (--token, JDITEM_TOKEN or JUSTONEAPI_TOKEN), then: {again}",
        ]
    if isinstance(error, errors.PermissionDeniedError):
        return [
            "Stopped: this token may not use this endpoint (code 600).",
            f"Ask the administrator for the permission, then continue with: {again}",
        ]
    return [f"Stopped: {error.message}", f"Fix the cause, then continue with: {again}"]


def render_summary(report: JobReport, *, output: Path, job: str, tz: tzinfo | None = None) -> str:
    """Human-readable lines: items, calls (charged, by code), elapsed, output, next step.

    Times are shown in ``tz`` (default: the machine's local zone)."""
    stats, counts = report.stats, report.counts
    uncertain = counts.get("uncertain", 0)
    settled = counts.get("done", 0) + counts.get("failed", 0) + uncertain
    lines = [
        f"Job {job}: {settled}/{counts.get('total', 0)} item(s) settled — "
        f"{counts.get('done', 0)} done "
        f"({stats.done} fetched now, {stats.cached} from the local cache, "
        f"{max(0, counts.get('done', 0) - stats.done - stats.cached)} before), "
        f"{counts.get('failed', 0)} failed, "
        + (f"{uncertain} maybe charged without an answer, " if uncertain else "")
        + f"{counts.get('pending', 0) + counts.get('inflight', 0)} pending, "
        f"{counts.get('todo', 0)} to do",
    ]
    by_code = ", ".join(f"{code}: {n}" for code, n in sorted(report.codes.items()))
    lines.append(
        f"Calls: {stats.calls} (charged: {stats.charged_calls}, throttled 302: "
        f"{stats.throttled}){' — by code: ' + by_code if by_code else ''}"
    )
    rate = stats.finished / stats.elapsed if stats.elapsed > 0 else 0.0
    lines.append(f"Elapsed: {stats.elapsed:.1f} s ({rate:.1f} items/s)")
    lines.append(
        f"Output: {output} ({plural(report.exported, 'product')})"
        if report.output_written
        else f"Output: {output} not written (no product yet; an existing file is left as it was)"
    )
    if report.fatal is not None:
        lines.extend(_fatal_advice(report.fatal, job, tz))
        if report.calls_after_fatal:
            lines.append(
                f"(calls answered after the first fatal answer: {report.calls_after_fatal})"
            )
    elif report.interrupted:
        how = "abandoned the calls on the wire" if report.abandoned else "finished the calls"
        lines.append(
            f"Interrupted: {how}; the journal is saved. Continue with: {resume_command(job)}"
        )
    elif report.stop_reason:
        reason = (
            f"--max-calls {report.max_calls} reached"
            if report.max_calls is not None
            else report.stop_reason
        )
        lines.append(f"Stopped: {reason}. Continue with: {resume_command(job)}")
    elif not report.complete:
        lines.append(
            f"Some items are still pending on the server; continue with: {resume_command(job)}"
        )
    if counts.get("failed", 0):
        lines.append(
            f"{counts['failed']} item(s) failed (not supported, invalid or out of retries); "
            f"ask the server again with: {resume_command(job)} --retry-failed "
            f"(see them with: jditem jobs show {job})"
        )
    if uncertain:
        lines.extend(uncertain_advice(uncertain, report.uncertain_ids, job))
    return "\n".join(lines)


def uncertain_advice(count: int, shown: list[str], job: str) -> list[str]:
    """What the summary (and ``jditem jobs show``) says about uncertain items."""
    more = f", … ({count - len(shown)} more: jditem jobs show {job})" if count > len(shown) else ""
    return [
        f"{count} item(s) may have been charged without an answer: their request was sent "
        "but no complete answer came back (read timeout, lost connection, invalid body, or "
        "in flight when a run crashed), and the server had not said that it honours "
        f"Idempotency-Key, so they are not asked again automatically: "
        f"{', '.join(shown)}{more}",
        "Check whether they were charged; to ask again deliberately (each may be charged "
        f"again): {resume_command(job)} --retry-uncertain",
    ]
