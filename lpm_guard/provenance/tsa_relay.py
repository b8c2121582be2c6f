"""A loopback relay between c2pa and the time-stamp authority, with a deadline.

c2pa-python (0.38) sends the RFC 3161 request itself and waits up to 30 s for an authority that
accepts the connection and never answers; it has no setting for that wait. So c2pa is given
this relay's loopback URL instead: the relay forwards the request to the authority and answers
502/504 as soon as the authority fails or ``timeout_s`` has passed in all (connect, send and
read together, so a trickling reply is cut off too), and c2pa's signing then fails at once
(``SigningError``, nothing published). A manifest is never signed without its time-stamp when
one is configured.

An authority that failed to answer is not asked again for ``cooldown_s``: meanwhile every
signature fails at once with the last failure's reason, instead of each live segment and each
job waiting out the deadline again. The first request after the cool-down asks the authority
again (and reopens the cool-down if it still fails).

Hand-written: no library relays a request under one total deadline to a client we cannot
configure. One relay per authority and process, on 127.0.0.1, on a daemon thread.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_COOLDOWN_S = 10.0
MAX_BODY = 1 << 20  # a time-stamp request or reply is a few KiB
_CHUNK = 16 * 1024


class RelayFailure(Exception):
    """The authority failed or missed the deadline: the words go into the ``SigningError``."""


class CoolingDown(RelayFailure):
    """The authority failed a moment ago and is not asked again before its cool-down ends."""


class TimeStampRelay:
    """Forwards POSTs made to ``url`` to ``upstream``, within ``timeout_s`` in all."""

    def __init__(
        self, upstream: str, timeout_s: float, cooldown_s: float = DEFAULT_COOLDOWN_S
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {upstream}")
        self.upstream = upstream
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self._failure: tuple[float, str] | None = None
        self._quiet_until = 0.0  # monotonic time before which the authority is not asked
        self._cause = ""  # why the authority was last found failing
        self._parts = parts
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                relay._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                return  # the signing error says what happened

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tsa-relay", daemon=True
        )
        self._thread.start()

    def failure_since(self, started: float) -> str | None:
        """Why the authority failed, if it did after ``started`` (``time.monotonic()``)."""
        failure = self._failure
        return failure[1] if failure is not None and failure[0] >= started else None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            request.send_error(413 if length else 411)
            return
        body = request.rfile.read(length)
        try:
            status, content_type, reply = self.forward(
                body, request.headers.get("Content-Type") or "application/timestamp-query"
            )
        except RelayFailure as exc:
            now = time.monotonic()
            self._failure = (now, str(exc))
            if not isinstance(exc, CoolingDown):
                self._quiet_until, self._cause = now + self.cooldown_s, str(exc)
            request.send_response(504)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if status != 200:
            self._failure = (
                time.monotonic(),
                f"the time-stamp authority at {self.upstream} answered HTTP {status}",
            )
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(reply)))
        request.end_headers()
        request.wfile.write(reply)

    def forward(self, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        """One request to the authority under the deadline: (status, content type, body)."""
        now = time.monotonic()
        if now < self._quiet_until:
            raise CoolingDown(
                f"{self._cause}; it is not asked again for {self._quiet_until - now:.1f} s"
            )
        deadline = now + self.timeout_s

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RelayFailure(
                    f"the time-stamp authority at {self.upstream} did not answer within "
                    f"{self.timeout_s:g} s"
                )
            return remaining

        parts = self._parts
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(parts.hostname or "", parts.port, timeout=left())
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            connection.request("POST", path, body, {"Content-Type": content_type})
            sock = connection.sock
            assert sock is not None
            sock.settimeout(left())
            response = connection.getresponse()
            chunks: list[bytes] = []
            size = 0
            while True:
                sock.settimeout(left())
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY:
                    raise RelayFailure(f"the time-stamp authority at {self.upstream} sent too much")
                chunks.append(chunk)
            left()
            return response.status, response.getheader("Content-Type") or "", b"".join(chunks)
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= deadline:
                raise RelayFailure(
                    f"the time-stamp authority at {self.upstream} did not answer within "
                    f"{self.timeout_s:g} s"
                ) from None
            raise RelayFailure(
                f"the time-stamp authority at {self.upstream} cannot be reached: {exc}"
            ) from None
        finally:
            connection.close()


_relays: dict[tuple[int, str, float], TimeStampRelay] = {}
_lock = threading.Lock()


def relay_for(upstream: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> TimeStampRelay:
    """This process's relay to ``upstream`` (started on first use; a forked child starts its
    own, as the parent's thread did not follow it)."""
    key = (os.getpid(), upstream, timeout_s)
    with _lock:
        relay = _relays.get(key)
        if relay is None:
            relay = _relays[key] = TimeStampRelay(upstream, timeout_s)
        return relay
