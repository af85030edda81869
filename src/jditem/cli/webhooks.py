"""``jditem webhooks``: change alerts delivered as signed webhooks (SPEC §6.3).

``jditem webhooks listen`` is a receiver for development, like the payment providers'
CLI listeners: it listens on 127.0.0.1, checks every POST with
:func:`jditem.webhooks.verify` (the function your own receiver uses), prints the event and
answers 200 — or 400 with the reason when the request is not authentic, which is what
the server's delivery log then shows. It needs only the ``cli`` extra (standard-library
HTTP server).

The endpoint commands (add, list, remove, rotate, enable, test, deliveries, replay) join
:data:`webhooks_app` from their own module, :mod:`jditem.cli.webhook_endpoints`.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import typer

from jditem.cli.exits import ExitCode

webhooks_app = typer.Typer(
    help="Change alerts as signed webhooks: endpoints of your account (add, list, rotate, "
    "test, deliveries, replay) and a local receiver for development (listen).",
    no_args_is_help=True,
)

#: Largest request body the listener reads (change events are a few KiB).
MAX_BODY = 1024 * 1024


class _Listener:
    """What every request handler shares: secrets, output mode, and a print lock."""

    def __init__(self, secrets: list[str], tolerance: float, as_json: bool) -> None:
        self.secrets = secrets
        self.tolerance = tolerance
        self.as_json = as_json
        self.lock = threading.Lock()
        self.seen: set[str] = set()

    def out(self, text: str, *, err: bool = False) -> None:
        with self.lock:
            stream = sys.stderr if err else sys.stdout
            stream.write(text + "\n")
            stream.flush()

    def show(self, event: dict[str, Any], msg_id: str) -> None:
        with self.lock:
            again = msg_id in self.seen
            self.seen.add(msg_id)
        if self.as_json:
            self.out(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            return
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        kind = f" {event['type']}" if isinstance(event.get("type"), str) else ""
        note = " (again: a retry of a message already received)" if again else ""
        pretty = json.dumps(event, ensure_ascii=False, indent=2)
        self.out(f"{stamp} webhook {msg_id}{kind}{note}\n{pretty}")


def _handler(listener: _Listener) -> type[BaseHTTPRequestHandler]:
    from jditem.errors import WebhookVerificationError
    from jditem.webhooks import verify

    class Handler(BaseHTTPRequestHandler):
        server_version = "jditem-webhooks-listen"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default access log: each request is reported once below."""

        def _answer(self, status: int, text: str) -> None:
            body = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._answer(411, "send a Content-Length")
                return
            if not 0 <= length <= MAX_BODY:
                self._answer(413, f"the body is larger than {MAX_BODY} bytes")
                return
            body = self.rfile.read(length)
            try:
                event = verify(body, self.headers, listener.secrets, listener.tolerance)
            except WebhookVerificationError as exc:
                listener.out(f"rejected POST {self.path}: {exc.message}", err=True)
                self._answer(400, f"{exc.reason}: {exc.message}")
                return
            listener.show(event, self.headers.get("webhook-id", ""))
            self._answer(200, "ok")

        def _not_post(self) -> None:
            self._answer(405, "POST signed webhooks here")

        do_GET = do_PUT = do_DELETE = do_PATCH = _not_post

    return Handler


def listen(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = 8765,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            envvar="JDITEM_WEBHOOK_SECRET",
            help="The endpoint's whsec_ signing secret (repeat to accept several, e.g. the "
            "old and new one after a rotation).",
            show_default=False,
        ),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0, help="Seconds a signature's timestamp may be off.")
    ] = 300.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each event as one line of JSON.")
    ] = False,
) -> None:
    """Receive webhooks on 127.0.0.1, verify them, print their events (for development)."""
    from jditem.errors import ConfigurationError
    from jditem.webhooks import signing_key

    if not secret:
        typer.echo(
            "Error: give the endpoint's signing secret: --secret whsec_… "
            "(or JDITEM_WEBHOOK_SECRET); it was shown when the endpoint was added",
            err=True,
        )
        raise typer.Exit(ExitCode.USAGE)
    try:
        for one in secret:
            signing_key(one)
    except ConfigurationError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    listener = _Listener(list(secret), tolerance, as_json)
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(listener))
    except OSError as exc:
        typer.echo(
            f"Error: cannot listen on 127.0.0.1:{port}: {exc.strerror}; choose another --port",
            err=True,
        )
        raise typer.Exit(ExitCode.OTHER) from None
    server.daemon_threads = True
    bound = server.server_address[1]
    listener.out(
        f"listening on http://127.0.0.1:{bound}/ (any path), verifying with "
        f"{len(secret)} secret(s), tolerance {tolerance:g} s; Ctrl-C stops",
        err=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        listener.out("stopped", err=True)
    finally:
        server.server_close()


webhooks_app.command()(listen)


def register(app: typer.Typer) -> None:
    """Register ``jditem webhooks``."""
    app.add_typer(webhooks_app, name="webhooks")
