"""What the reliability tests share: the API key, raw HTTP, the error shape, index copies."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import orjson
import requests

from service.process import ServerProcess

KEY = "reliability-key-8d1e0c"
AUTH = {"Authorization": f"Bearer {KEY}"}
ERROR_STATUSES = range(400, 500)


def copy_index(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def error_shape_problem(status: int, content_type: str | None, body: bytes) -> str | None:
    """Why a 4xx response is not the documented ``{"error": {"code", "message"}}``, or None."""
    if not (content_type or "").startswith("application/json"):
        return f"{status} with Content-Type {content_type!r}, not application/json"
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"{status} whose body is not JSON: {body[:200]!r}"
    if not (
        isinstance(payload, dict)
        and set(payload) == {"error"}
        and isinstance(payload["error"], dict)
        and set(payload["error"]) == {"code", "message"}
        and all(isinstance(v, str) and v for v in payload["error"].values())
    ):
        return f"{status} whose body is not the error shape: {body[:200]!r}"
    if b"Traceback" in body:
        return f"{status} with a traceback in its body"
    return None


def check_error(response: requests.Response) -> dict:
    problem = error_shape_problem(response.status_code, response.headers.get("Content-Type"), response.content)
    assert problem is None, problem
    return response.json()["error"]


def raw_request(port: int, data: bytes, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (requests refuses malformed lines and headers); (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def fresh_get(url: str, **kwargs) -> requests.Response:
    """A GET on a new connection, so successive calls spread over the worker processes."""
    with requests.Session() as session:
        return session.get(url, timeout=60, headers={"Connection": "close"}, **kwargs)


def served_copy(seed_index_dir, folder):
    """A writable gunicorn server (2 workers, an API key) over its own copy of the seed index in ``folder``."""
    index_dir = copy_index(seed_index_dir, folder / "index")
    server = ServerProcess(index_dir, index_dir.parent / "server.log", RETRIEVAL_API_KEY=KEY, WORKERS="2")
    server.wait_ready(timeout=300)
    yield server
    server.stop()
