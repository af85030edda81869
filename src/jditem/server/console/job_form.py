"""The bulk-job form: what was submitted (a draft) and what it will start (a preview).

The list is read by :mod:`jditem.formats.items`, the reader of ``jditem batch``, so the
console accepts what the CLI accepts: ids or JD URLs one per line (or several on a
line), a CSV / TSV / JSON Lines list with a header whose id column is named or
detected. Lines that name no item are skipped and listed with their line numbers, never
a reason to refuse the whole list.

Nothing is lost between steps: the form comes back with every field as it was sent
(token, name, pasted text, id column) and an uploaded file's text is carried in a
hidden field, so "Preview", an error and "Start" never ask for it again. The preview
names the ids it shows by a digest; a start whose list no longer matches that digest
shows the new preview instead of starting something the person did not see.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile

from jditem.formats.items import (
    InputError,
    InputInfo,
    InvalidLine,
    ItemList,
    collect,
    detect_format,
    parse_input,
)
from jditem.wording import plural

MAX_ITEMS = 10_000
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: Largest job form accepted: a full paste box, a full file, the same file's text kept
#: from a preview, and the other fields.
MAX_FORM_BYTES = 3 * MAX_UPLOAD_BYTES + 64 * 1024
SIZE_ADVICE = (
    f"at most {MAX_ITEMS:,} items per job, and at most 5 MB of pasted text and 5 MB of file"
)
#: Skipped lines listed in a preview (all are counted).
SKIPPED_SHOWN = 100
#: Ids listed in a preview.
IDS_SHOWN = 20


class JobInputError(ValueError):
    """The submitted list cannot become a job; the message says what to fix, and
    :attr:`preview` (when the list was read) shows what was skipped."""

    def __init__(self, message: str, preview: JobPreview | None = None) -> None:
        super().__init__(message)
        self.preview = preview


@dataclass
class JobDraft:
    """The job form's fields as submitted, to render again exactly."""

    token: str = ""
    name: str = ""
    pasted: str = ""
    file_name: str = ""
    file_text: str = ""
    id_column: str = ""
    action: str = "start"
    previewed: str = ""


@dataclass
class SourcePreview:
    """What one source (the pasted text or the file) gave."""

    label: str
    info: InputInfo
    lines: int
    ids: int = 0
    skipped: list[InvalidLine] = field(default_factory=list)
    skipped_total: int = 0


@dataclass
class JobPreview:
    """What a start would submit: distinct ids in order, and what was left out."""

    ids: list[str]
    duplicates: int
    sources: list[SourcePreview]

    @property
    def digest(self) -> str:
        """Names this exact list of ids (the form sends it back with "Start")."""
        return hashlib.sha256("\n".join(self.ids).encode()).hexdigest()[:32]

    @property
    def skipped_total(self) -> int:
        """Lines skipped over every source."""
        return sum(source.skipped_total for source in self.sources)

    @property
    def columns(self) -> list[str]:
        """The header columns of the sources that have one (for the column field)."""
        return [name for source in self.sources for name in source.info.columns]

    @property
    def shown(self) -> list[str]:
        """The first ids, as the preview lists them."""
        return self.ids[:IDS_SHOWN]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def read_draft(form: FormData) -> tuple[JobDraft, str | None]:
    """The draft of ``form`` and, when part of it cannot be read (too large, not
    UTF-8), what to fix; the fields read so far are kept either way."""
    draft = JobDraft(
        token=_text(form, "token").strip(),
        name=_text(form, "name").strip(),
        pasted=_text(form, "items"),
        id_column=_text(form, "id_column").strip(),
        action="preview" if _text(form, "action") == "preview" else "start",
        previewed=_text(form, "previewed").strip(),
    )
    if not _text(form, "drop_file"):
        draft.file_name = _text(form, "file_name").strip()
        draft.file_text = _text(form, "file_text")
    if len(draft.pasted.encode("utf-8")) > MAX_UPLOAD_BYTES:
        draft.pasted = ""
        return draft, f"The pasted list is larger than 5 MB: {SIZE_ADVICE}."
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            return draft, f"The uploaded file is larger than 5 MB: {SIZE_ADVICE}."
        try:
            draft.file_text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return draft, (
                f"The uploaded file {upload.filename} is not UTF-8 text: upload ids or JD "
                "URLs as .txt, .csv, .tsv or .jsonl (saved as UTF-8)."
            )
        draft.file_name = upload.filename[:200]
    if len(draft.file_text.encode("utf-8")) > MAX_UPLOAD_BYTES:
        draft.file_name = draft.file_text = ""
        return draft, f"The uploaded file is larger than 5 MB: {SIZE_ADVICE}."
    return draft, None


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def preview(draft: JobDraft) -> JobPreview:
    """Read the draft's pasted text and file like ``jditem batch`` reads its input.

    Raises :class:`JobInputError` when nothing can be submitted (no id, too many, an
    id column that is not there)."""
    sources: list[tuple[str, str, str]] = []  # (label, name for the format, text)
    if draft.pasted.strip():
        sources.append(("pasted text", "", draft.pasted))
    if draft.file_name and draft.file_text.strip():
        sources.append((f"file {draft.file_name}", draft.file_name, draft.file_text))
    if not sources:
        raise JobInputError(
            "The list is empty: paste item ids or JD URLs, or upload a file "
            "(.txt, .csv, .tsv or .jsonl)."
        )
    formats = [detect_format(name, _first_line(text)) for _label, name, text in sources]
    column = draft.id_column or None
    if column is not None and all(fmt == "lines" for fmt in formats):
        raise JobInputError(
            f"Id column {column!r}: this list has no columns (it is read as one id or URL "
            "per line). Clear the id column, or give a CSV / JSON Lines list with a header."
        )
    listed = ItemList()
    result: list[SourcePreview] = []
    for (label, _name, text), fmt in zip(sources, formats, strict=True):
        lines = text.splitlines(keepends=True)
        seen = SourcePreview(label, InputInfo(), len(lines))
        ids_before, skipped_before = len(listed.ids), listed.skipped_total
        shown_before = len(listed.skipped)
        try:
            entries = parse_input(
                lines, fmt, id_column=column if fmt != "lines" else None, info=seen.info
            )
            collect(entries, listed, keep_skipped=SKIPPED_SHOWN)
        except InputError as exc:
            raise JobInputError(f"{label.capitalize()}: {exc}.") from None
        seen.ids = len(listed.ids) - ids_before
        seen.skipped = listed.skipped[shown_before:]
        seen.skipped_total = listed.skipped_total - skipped_before
        result.append(seen)
    found = JobPreview(listed.ids, listed.duplicates, result)
    if not found.ids:
        raise JobInputError(
            f"No item id in the list: {plural(found.skipped_total, 'line')} named no item "
            "(listed below). Give ids or JD URLs, one per line, or a CSV / JSON Lines list "
            "whose id column holds them."
            if found.skipped_total
            else "The list is empty: paste item ids or JD URLs, or upload a file.",
            found,
        )
    if len(found.ids) > MAX_ITEMS:
        raise JobInputError(
            f"{len(found.ids):,} items is more than {MAX_ITEMS:,} per job: split the list "
            f"into several jobs ({SIZE_ADVICE})."
        )
    return found


def skipped_lines(found: JobPreview | None) -> list[dict[str, Any]]:
    """The skipped lines of ``found`` as rows for the preview table."""
    if found is None:
        return []
    return [
        {"source": source.label, "line": bad.line_no, "text": bad.shown, "reason": bad.reason}
        for source in found.sources
        for bad in source.skipped
    ]
