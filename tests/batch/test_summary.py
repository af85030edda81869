"""The end-of-run summary of ``jditem batch`` (issue 18 items 2 and 8)."""

from __future__ import annotations

from pathlib import Path

from jditem import errors
from jditem.batch.job import JobReport
from jditem.batch.stats import BatchStats
from jditem.batch.summary import render_summary


def report(**fields: object) -> JobReport:
    counts = {"todo": 3, "inflight": 0, "pending": 0, "done": 0, "failed": 0, "total": 3}
    return JobReport(job="j", stats=BatchStats(total=3), counts=counts, **fields)  # type: ignore[arg-type]


def test_no_calls_after_a_fatal_answer_says_nothing_about_them() -> None:
    """Main printed "(calls answered after the first fatal answer: 0)" after a stop."""
    fatal = errors.InvalidTokenError("invalid token")
    quiet = render_summary(report(fatal=fatal), output=Path("o.jsonl"), job="j")
    assert "after the first fatal answer" not in quiet
    loud = render_summary(report(fatal=fatal, calls_after_fatal=2), output=Path("o.jsonl"), job="j")
    assert "(calls answered after the first fatal answer: 2)" in loud


def test_the_output_line_says_whether_the_file_was_written() -> None:
    written = render_summary(report(exported=1), output=Path("o.jsonl"), job="j")
    assert "Output: o.jsonl (1 product)" in written
    kept = render_summary(report(output_written=False), output=Path("o.jsonl"), job="j")
    assert "Output: o.jsonl not written" in kept
    assert "left as it was" in kept


def test_a_run_stopped_by_its_call_budget_names_the_option() -> None:
    """The engine's reason names ``max_calls``; the summary names the CLI's option."""
    text = render_summary(
        report(stop_reason="max_calls=5 reached", max_calls=5), output=Path("o.jsonl"), job="j"
    )
    assert "Stopped: --max-calls 5 reached. Continue with: jditem batch --job j --resume" in text
