"""``make serve``: Debian's nginx in front of gunicorn, so that slow and idle clients cost nothing.

gunicorn's threaded workers give each connection a thread while its request is read: four slow
clients trickling their headers hold all of the default server's four threads, and every other
client waits. nginx reads each request whole (headers within ``HEADER_TIMEOUT``, a body within
``BODY_TIMEOUT`` between reads) and keeps idle keep-alive connections on its event loop; gunicorn,
on a Unix socket only nginx can reach, sees complete requests only. nginx's own refusals (a request
it cannot parse, a header block over its buffers, a timeout) answer the documented JSON error.

Without nginx (`make setup` installs it where apt can), gunicorn serves alone, as the one line on
standard error says. The launcher exits with gunicorn's status, and stops both on SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
HEADER_TIMEOUT = 10  # seconds for a request line and headers: then 408, and the connection closes
BODY_TIMEOUT = 20  # seconds between two reads of a request body
IDLE_TIMEOUT = 30  # seconds a keep-alive connection may sit idle
UPSTREAM_TIMEOUT = 600  # seconds gunicorn may take to answer (a large write encodes for minutes)
BODY_LIMIT = "33m"  # above the app's own limits (1, 10 and 32 MiB): the app's 413 names the limit
START_TIMEOUT = 180  # seconds for gunicorn to open its socket (each worker loads the model)
# nginx's own refusals -> (code, message): the documented JSON error, never nginx's HTML page.
NGINX_ERRORS = {
    400: ("bad_request", "the request is not valid HTTP"),
    408: ("request_timeout", f"the request was not sent within {HEADER_TIMEOUT} s"),
    413: ("payload_too_large", "the body is over the server's limit"),
    414: ("uri_too_long", "the request line is over the server's limit"),
    431: ("header_fields_too_large", "the request headers are over the server's limit"),
    494: ("header_fields_too_large", "the request headers are over the server's limit"),
    500: ("internal_error", "the server failed; the details are in its log"),
    502: ("unavailable", "the service is starting or restarting; retry shortly"),
    503: ("unavailable", "the service is unavailable; retry shortly"),
    504: ("timeout", f"the service did not answer within {UPSTREAM_TIMEOUT} s"),
    505: ("http_version_not_supported", "the HTTP version is not supported"),
}


def nginx_config(host: str, port: str, upstream: Path, workdir: Path) -> str:
    """The whole nginx.conf: one worker, everything it writes inside ``workdir``."""
    # 494 is nginx's own code for headers over its buffers, which it sends as 400: 431 says it exactly.
    sent_as = {494: "=431 "}
    error_pages = "\n".join(
        f"        error_page {status} {sent_as.get(status, '')}/_error/{status}.json;" for status in NGINX_ERRORS
    )
    temp_paths = "\n".join(
        f"    {kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Started as root (as here, in a container), nginx would run its worker as "nobody", which cannot
    # reach the socket in ``workdir``; a normal user's nginx stays that user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""daemon off;
{user}worker_processes 1;
pid {workdir / "nginx.pid"};
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;  # the app logs every request, with its request id
    server_tokens off;
{temp_paths}
    client_header_timeout {HEADER_TIMEOUT}s;
    client_body_timeout {BODY_TIMEOUT}s;
    keepalive_timeout {IDLE_TIMEOUT}s;
    send_timeout {UPSTREAM_TIMEOUT}s;
    client_max_body_size {BODY_LIMIT};
    client_body_buffer_size 1m;
    # A 2,000-character Cyrillic query percent-encoded in a GET URL is about 24 kB.
    large_client_header_buffers 4 64k;
    upstream app {{ server unix:{upstream}; }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_request_buffering on;  # gunicorn gets the body whole, never a slow trickle
            proxy_buffering on;  # and hands its answer over at once, however slowly the client reads
            proxy_read_timeout {UPSTREAM_TIMEOUT}s;
            proxy_send_timeout {UPSTREAM_TIMEOUT}s;
        }}
{error_pages}
        # nginx refuses TRACE itself, with no Allow header: the app is asked the same path with a
        # method no route takes, so its 405 carries the route's own Allow (or its 404).
        error_page 405 = @method_not_allowed;
        location @method_not_allowed {{
            proxy_method PATCH;
            proxy_pass http://app;
        }}
        location /_error/ {{
            internal;
            root {workdir};
            default_type application/json;
            add_header X-Content-Type-Options nosniff always;
            etag off;
        }}
    }}
}}
"""


def write_error_pages(workdir: Path) -> None:
    folder = workdir / "_error"
    folder.mkdir()
    for status, (code, message) in NGINX_ERRORS.items():
        (folder / f"{status}.json").write_bytes(orjson.dumps({"error": {"code": code, "message": message}}))


def _wait_for_socket(path: Path, gunicorn: subprocess.Popen) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and gunicorn.poll() is None:
        if path.exists():
            return True
        time.sleep(0.2)
    return False


def main() -> int:
    host = os.environ.get("HOST") or "127.0.0.1"
    port = os.environ.get("PORT") or "8000"
    gunicorn_command = [str(GUNICORN), "-c", "service/gunicorn_conf.py", "service:create_app()"]
    if NGINX is None:
        print("nginx not found: gunicorn serves alone, without the front for slow clients", file=sys.stderr)
        os.execv(gunicorn_command[0], gunicorn_command)
    with tempfile.TemporaryDirectory(prefix="retrieval-front-") as tmp:
        workdir = Path(tmp)
        upstream = workdir / "app.sock"
        write_error_pages(workdir)
        (workdir / "nginx.conf").write_text(nginx_config(host, port, upstream, workdir))
        children: list[subprocess.Popen] = []

        def stop(signum: int, _frame: object) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM if signum != signal.SIGINT else signal.SIGINT)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        gunicorn = subprocess.Popen(gunicorn_command, cwd=ROOT, env=os.environ | {"BIND": f"unix:{upstream}"})
        children.append(gunicorn)
        if _wait_for_socket(upstream, gunicorn):
            nginx = subprocess.Popen([NGINX, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)])
            children.append(nginx)
            while gunicorn.poll() is None and nginx.poll() is None:
                time.sleep(0.2)
            front_failed = nginx.poll() not in (None, 0)  # e.g. the port is taken
            stop(signal.SIGTERM, None)
            nginx.wait()
            if front_failed:
                gunicorn.wait()
                return nginx.returncode
        status = gunicorn.wait()
        return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
