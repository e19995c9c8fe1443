"""gunicorn's threaded worker, answering gunicorn's own rejections as the documented JSON error.

Requests that are not valid HTTP (a bad request line, method, version or header, a header block
over the limit, an unsupported transfer coding) never reach the app: gunicorn refuses them itself,
with an HTML page. This worker keeps gunicorn's judgement (the status and reason it chose, and its
log line) and sends ``{"error": {"code", "message"}}`` instead, so a client parses one error shape
whatever refused it. `service/gunicorn_conf.py` names it as the worker class.
"""

from __future__ import annotations

import re

import orjson
from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

# The status gunicorn chose -> the error code a client sees (the app's own codes where they exist).
GUNICORN_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}
MESSAGE_CHARS = 200  # gunicorn's reason quotes the request: enough to see what was wrong
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)")


class _Recorder:
    """The client socket, except that what is sent is kept instead: gunicorn's HTML error page."""

    def __init__(self, sock) -> None:
        self._sock = sock
        self.sent = b""

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def json_error_bytes(status: int, reason: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response carrying the documented JSON error; the connection closes after it."""
    message = f"{reason}: {detail}" if detail else reason
    body = orjson.dumps(
        {"error": {"code": GUNICORN_CODES.get(status, "bad_request"), "message": message[:MESSAGE_CHARS]}}
    )
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc) -> None:
        recorder = _Recorder(client)
        super().handle_error(req, recorder, addr, exc)  # gunicorn decides the status and logs
        status_line = _STATUS_LINE.match(recorder.sent)
        if status_line is None:  # gunicorn sent nothing (the client had gone): nothing to translate
            return
        status, reason = int(status_line.group(1)), status_line.group(2).decode("latin-1")
        detail = "" if status >= 500 else str(exc)  # a server fault's cause stays in the log
        try:
            util.write_nonblock(client, json_error_bytes(status, reason, detail))
        except OSError:
            self.log.debug("Failed to send error message.")
