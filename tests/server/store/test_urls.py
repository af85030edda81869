"""Database URLs as users type them (issue 8 item 1): normalised, or one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from jditem.server.store import urls
from jditem.server.store.urls import DatabaseUrlError, check_driver, normalize_database_url


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("postgresql://u:pw@db.example/jd", "postgresql+asyncpg://u:pw@db.example/jd"),
        ("postgres://u:pw@db.example:5433/jd", "postgresql+asyncpg://u:pw@db.example:5433/jd"),
        ("postgresql+asyncpg://u@h/jd", "postgresql+asyncpg://u@h/jd"),
        ("postgresql+psycopg://u@h/jd", "postgresql+asyncpg://u@h/jd"),
        ("sqlite:////srv/jd/server.db", "sqlite+aiosqlite:////srv/jd/server.db"),
        ("sqlite+aiosqlite:////srv/jd/server.db", "sqlite+aiosqlite:////srv/jd/server.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_urls_normalise_to_the_async_driver(typed: str, expected: str) -> None:
    assert normalize_database_url(typed) == expected


def test_a_unix_socket_host_is_kept() -> None:
    url = normalize_database_url("postgres://jd@/jd?host=/run/postgresql")
    assert url.startswith("postgresql+asyncpg://jd@/jd?host=")
    assert "run" in url


def test_a_file_path_becomes_an_absolute_sqlite_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert normalize_database_url("data/server.db") == (
        f"sqlite+aiosqlite:///{tmp_path / 'data' / 'server.db'}"
    )


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("mysql://root:s3cret-pw@h/jd", "unsupported database URL scheme 'mysql://'"),
        ("postgresql://u:s3cret-pw@h", "names no database"),
        ("   ", "empty"),
    ],
)
def test_unusable_urls_are_one_clear_line_without_the_password(typed: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        normalize_database_url(typed)
    message = str(caught.value)
    assert says in message
    assert "postgresql://" in message  # says what is accepted
    assert "s3cret-pw" not in message
    assert "\n" not in message


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatabaseUrlError, match=r"pip install 'jditem\[scale\]'") as caught:
        check_driver("postgresql+asyncpg://u:s3cret-pw@h/jd")
    assert "asyncpg" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


def test_display_url_masks_the_password() -> None:
    assert urls.display_url("postgresql+asyncpg://u:s3cret@h/jd") == (
        "postgresql+asyncpg://u:***@h/jd"
    )
