"""Outputs appear whole or not at all (issue 18 item 2), created 0600 (issue 16 item 16)."""

from __future__ import annotations

import stat
from pathlib import Path

from jditem.batch.export import open_writer
from jditem.formats.files import PendingFile
from jditem.protocol.product import Product

BARE = Product(sku_id="42", title="Bare", url="u").model_dump_json()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_pending_file_is_a_0600_sibling_until_committed(tmp_path: Path) -> None:
    target = tmp_path / "new" / "out.jsonl"
    pending = PendingFile(target)
    assert pending.path.parent == target.parent
    assert pending.path.name.startswith(".out.jsonl.")
    assert mode(pending.path) == 0o600
    assert mode(target.parent) == 0o700
    pending.path.write_text("x\n", encoding="utf-8")
    assert not target.exists()
    pending.commit()
    assert target.read_text(encoding="utf-8") == "x\n"
    assert mode(target) == 0o600
    assert list(target.parent.iterdir()) == [target]


def test_an_output_replaces_the_file_only_when_closed(tmp_path: Path) -> None:
    out = tmp_path / "small.jsonl"
    out.write_text("21 products of another job\n", encoding="utf-8")
    out.chmod(0o644)
    writer = open_writer(out, "jsonl")
    writer.write(BARE)
    assert out.read_text(encoding="utf-8") == "21 products of another job\n"
    assert writer.close() is True
    assert out.read_text(encoding="utf-8").startswith('{"requested_id":"42"')
    assert mode(out) == 0o600


def test_an_empty_output_can_leave_the_old_file_untouched(tmp_path: Path) -> None:
    """The issue's scenario: a job that stops before writing anything must not empty
    another job's output."""
    out = tmp_path / "small.jsonl"
    out.write_text("21 products\n", encoding="utf-8")
    for fmt in ("jsonl", "csv", "xlsx", "parquet"):
        writer = open_writer(out, fmt)  # type: ignore[arg-type]
        assert writer.close(keep_empty=False) is False
        assert out.read_text(encoding="utf-8") == "21 products\n"
    abandoned = open_writer(out, "csv")
    abandoned.write(BARE)
    abandoned.abandon()
    assert out.read_text(encoding="utf-8") == "21 products\n"
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_an_empty_output_is_written_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "empty.csv"
    assert open_writer(out, "csv").close() is True
    assert out.read_text(encoding="utf-8").startswith("requested_id,id_mismatch,")
    assert mode(out) == 0o600
