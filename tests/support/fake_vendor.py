"""A vendor-like server on 127.0.0.1 (a thread): answers like the vendor, ignores
``Idempotency-Key``, counts the calls per item, and can hold answers on request.

Each request gets an :class:`Answer` from ``plan(n, item_id)`` (``n`` counts requests
from 1, in arrival order): the product (code 0, the sample payload carrying the
item's id), or a 503 naming an open upstream circuit (the wire shape of a jditem
gateway: ``data = {retryAfter, circuit, upstreamCode}`` plus ``Retry-After``) — either
one optionally *held* until :meth:`FakeVendor.release` (or the server stops), so a test
can know exactly which calls are on the wire::

    with FakeVendor(plan=lambda n, item: Answer(hold=n > 40)) as vendor:
        ...  # start a batch against vendor.base_url
        wait_until(lambda: len(vendor.held) == 8, what="8 calls on the wire")

Keep-alive HTTP/1.1, one thread per connection; every wait is bounded.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

FIXTURE = Path(__file__).parents[1] / "fixtures" / "jd-detail-v1-abridged.json"
#: Longest a held answer waits for :meth:`FakeVendor.release`.
HOLD_LIMIT = 120.0


@dataclass(frozen=True)
class Answer:
    """What one request gets (see the module docstring)."""

    kind: Literal["product", "circuit"] = "product"
    hold: bool = False
    retry_after: int = 0
    upstream_code: int | None = 601


def _product_plan(n: int, item_id: str) -> Answer:
    return Answer()


class FakeVendor:
    """The server; use as a context manager. ``base_url`` is ``http://127.0.0.1:N``."""

    def __init__(self, plan: Callable[[int, str], Answer] = _product_plan) -> None:
        self.plan = plan
        self.calls: Counter[str] = Counter()
        self.keys: list[str | None] = []
        self.log: list[tuple[int, str, str]] = []  # (n, item id, answer kind)
        self.held: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._requests = 0
        payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
        self._payload: dict[str, Any] = payload.get("data", payload)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeVendor:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def release(self) -> None:
        """Let every held answer (and every later one planned as held) go."""
        self._released.set()

    def hold_again(self) -> None:
        """Hold the answers planned as held again (after :meth:`release`)."""
        self._released.clear()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        item_id = (query.get("itemId") or [""])[0]
        with self._lock:
            self._requests += 1
            n = self._requests
            self.calls[item_id] += 1
            self.keys.append(handler.headers.get("Idempotency-Key"))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            answer = self.plan(n, item_id)
            self.log.append((n, item_id, answer.kind))
        try:
            if answer.hold:
                with self._lock:
                    self.held.append(item_id)
                self._released.wait(HOLD_LIMIT)
                with self._lock:
                    self.held.remove(item_id)
            self._answer(handler, item_id, answer)
        except OSError:  # the client is gone (killed): nobody reads the answer
            pass
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: BaseHTTPRequestHandler, item_id: str, answer: Answer) -> None:
        headers = {"Content-Type": "application/json"}
        if answer.kind == "circuit":
            status, code, message = 503, 503, "the upstream refuses this gateway"
            data: Any = {
                "retryAfter": answer.retry_after,
                "circuit": "open",
                "upstreamCode": answer.upstream_code,
            }
            headers["Retry-After"] = str(answer.retry_after)
        else:
            status, code, message = 200, 0, "success"
            data = {**self._payload, "product": {**self._payload["product"], "skuId": item_id}}
        body = json.dumps(
            {"code": code, "message": message, "data": data, "requestId": f"v-{item_id}"},
            ensure_ascii=False,
        ).encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
