"""Signing secrets sealed at rest: what is stored does not reveal them, keys rotate, and
the key file is made once (0600) even when processes start together."""

from __future__ import annotations

import secrets
import stat
import threading
from pathlib import Path

import pytest

from jditem.server.monitor.sealing import (
    KEY_FILE,
    SecretBox,
    SecretUnreadable,
    load_or_create_key,
)
from jditem.server.monitor.signing import new_secret
from jditem.server.settings import Settings


def key() -> str:
    return secrets.token_urlsafe(32)


def test_sealed_text_hides_the_secret_and_opens_again() -> None:
    box = SecretBox([key()])
    secret = new_secret()
    sealed = box.seal(secret)
    plain = secret.get_secret_value()
    assert plain not in sealed
    assert plain.removeprefix("whsec_") not in sealed
    assert box.seal(secret) != sealed  # a fresh IV each time
    assert box.unseal(sealed).get_secret_value() == plain
    assert "keys hidden" in repr(box)


def test_key_rotation_new_key_first_old_keys_still_open() -> None:
    old, new = key(), key()
    secret = new_secret()
    sealed_old = SecretBox([old]).seal(secret)
    both = SecretBox([new, old])
    assert both.unseal(sealed_old).get_secret_value() == secret.get_secret_value()
    resealed = both.reseal(sealed_old)
    assert SecretBox([new]).unseal(resealed).get_secret_value() == secret.get_secret_value()
    with pytest.raises(SecretUnreadable, match="sealed under another key"):
        SecretBox([new]).unseal(sealed_old)
    with pytest.raises(SecretUnreadable):
        SecretBox([key()]).reseal(sealed_old)
    with pytest.raises(SecretUnreadable):
        SecretBox([new]).unseal("not a sealed secret")


def test_the_box_of_the_settings_key(tmp_path: Path) -> None:
    first, second = key(), key()
    settings = Settings(home=tmp_path, webhook_secrets_key=f"{first}, {second}")
    sealed = SecretBox.from_settings(settings).seal(new_secret())
    SecretBox([first]).unseal(sealed)  # the first key seals
    assert not (tmp_path / KEY_FILE).exists()
    with pytest.raises(ValueError, match="too weak"):
        Settings(webhook_secrets_key=f"{first},short")


def test_without_a_setting_a_private_key_file_is_made_once(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    sealed = SecretBox.from_settings(settings).seal(new_secret())
    path = tmp_path / "home" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    SecretBox.from_settings(settings).unseal(sealed)  # the same key next time
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no temporary file left


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    start = threading.Barrier(8)
    keys: list[str] = []

    def make() -> None:
        start.wait(timeout=30)
        keys.append(load_or_create_key(path))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(keys) == 8
    assert len(set(keys)) == 1
    assert path.read_text().strip() == keys[0]


def test_an_empty_key_file_is_an_error_not_an_empty_key(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("")
    with pytest.raises(SecretUnreadable, match="JDITEM_WEBHOOK_SECRETS_KEY"):
        load_or_create_key(path)
