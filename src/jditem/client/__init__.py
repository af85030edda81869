"""The client library: :class:`Client` / :class:`AsyncClient` over an I/O-free core."""

from jditem.client.async_ import AsyncClient
from jditem.client.calls import CallInfo, Classified, Outcome
from jditem.client.config import BASE_URL_PRESETS, ClientConfig
from jditem.client.probe import ProbeResult
from jditem.client.sync import Client
from jditem.redaction import RedactingFilter, install_log_redaction, redact

__all__ = [
    "BASE_URL_PRESETS",
    "AsyncClient",
    "CallInfo",
    "Classified",
    "Client",
    "ClientConfig",
    "Outcome",
    "ProbeResult",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
]
