"""Webhook signing secrets encrypted at rest.

The server must keep an endpoint's secret to sign with it (an HMAC key cannot be stored
hashed the way API tokens are). It keeps it *sealed*: encrypted and authenticated with
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key the database does
not hold, so a copy of the database or of a backup does not reveal the secrets (Svix
seals them the same way under its ``main_secret``).

The key comes from ``JDITEM_WEBHOOK_SECRETS_KEY``: one or more random strings (at least
32 characters each), comma-separated; the first seals, every one unseals, so the key is
rotated by putting a new one first and re-sealing (:meth:`SecretBox.reseal`) before the
old one is dropped. Unset, the server makes a random key once and keeps it in
``JDITEM_HOME/webhook-secrets.key`` (mode 0600; n8n does the same with its encryption
key). Processes that share a database on several hosts must be given the same key:
a secret sealed under another key fails to unseal with :class:`SecretUnreadable`,
which says so.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from jditem.private_files import FILE_MODE, private_dir

if TYPE_CHECKING:
    from jditem.server.settings import Settings

#: The key file used when ``JDITEM_WEBHOOK_SECRETS_KEY`` is unset (under ``JDITEM_HOME``).
KEY_FILE = "webhook-secrets.key"
_CONTEXT = b"jditem-webhook-secrets-v1:"


class SecretUnreadable(Exception):
    """A sealed secret does not open with any configured key."""


def _fernet(material: str) -> Fernet:
    # The material is random (checked by the settings, or made here): one hash derives it.
    digest = hashlib.sha256(_CONTEXT + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class SecretBox:
    """Seals and unseals signing secrets with the configured keys (the first one seals)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._box = MultiFernet([_fernet(key) for key in keys])

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The box of ``JDITEM_WEBHOOK_SECRETS_KEY``, else of the key file under ``home``."""
        if settings.webhook_secrets_key is not None:
            value = settings.webhook_secrets_key.get_secret_value()
            return cls([part.strip() for part in value.split(",") if part.strip()])
        return cls([load_or_create_key(settings.home / KEY_FILE)])

    def seal(self, secret: SecretStr) -> str:
        """The text to store for ``secret``."""
        return self._box.encrypt(secret.get_secret_value().encode()).decode("ascii")

    def unseal(self, sealed: str) -> SecretStr:
        """The secret stored as ``sealed``."""
        try:
            return SecretStr(self._box.decrypt(sealed.encode("ascii")).decode())
        except (InvalidToken, UnicodeError) as exc:
            raise SecretUnreadable(
                "a webhook signing secret does not open with JDITEM_WEBHOOK_SECRETS_KEY (or "
                "the key file): it was sealed under another key. Give every process the same "
                "key (put an old key after the new one while re-sealing), or rotate the "
                "endpoint's secret"
            ) from exc

    def reseal(self, sealed: str) -> str:
        """``sealed`` sealed again under the first key (after a key rotation)."""
        try:
            return self._box.rotate(sealed.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise SecretUnreadable("a sealed secret opens with none of the keys") from exc


def load_or_create_key(path: Path) -> str:
    """The key in ``path``; a new random one written there (0600) when it has none.

    Safe when several processes start at once: the key is written to a private temporary
    file and linked into place, so every process reads the same complete key.
    """
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text(encoding="ascii").strip()
        if existing:
            return existing
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise SecretUnreadable(f"{path} is empty; set JDITEM_WEBHOOK_SECRETS_KEY instead")
    return key
