"""Slow and idle clients against `make serve`'s arrangement (nginx in front of gunicorn, over
loopback): they hold no thread of the service, other clients are answered as fast as on an idle
server, and a client that does not finish its request headers is cut off after HEADER_TIMEOUT."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import pytest
import requests

from service.front import HEADER_TIMEOUT, NGINX
from tests.reliability import summary

pytestmark = pytest.mark.skipif(NGINX is None, reason="no nginx: `make setup` installs Debian's nginx where apt can")

SLOW_CLIENTS = 64
IDLE_CLIENTS = 64
SAMPLES = 30  # requests per median
ALLOWED = 2.0  # × the idle median
SEARCH = {"q": "Лукашенко торговля", "k": 3}


def _median_ms(session: requests.Session, url: str, **params) -> float:
    times = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return statistics.median(times)


def _open(port: int, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(first_bytes)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset), without waiting for it."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slow_and_idle_clients_cost_other_clients_nothing(rel_server):
    url, port = rel_server.url, rel_server.port
    with requests.Session() as session:
        idle_health = _median_ms(session, url + "/health")
        idle_search = _median_ms(session, url + "/v1/search", **SEARCH)

        # 64 clients that send a byte of their headers each second, 64 kept-alive after one request.
        slow = [_open(port, b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ") for _ in range(SLOW_CLIENTS)]
        idle = [_open(port, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n") for _ in range(IDLE_CLIENTS)]
        for sock in idle:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        stop = threading.Event()

        def trickle() -> None:
            for _ in range(int(HEADER_TIMEOUT * 3)):  # bounded: stops long after the cut-off
                if stop.wait(1.0):
                    return
                for sock in slow:
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        pass  # already cut off

        feeder = threading.Thread(target=trickle, daemon=True)
        started = time.monotonic()
        feeder.start()
        try:
            busy_health = _median_ms(session, url + "/health")
            busy_search = _median_ms(session, url + "/v1/search", **SEARCH)
            # Every slow client is cut off after the header timeout, and only after it.
            early = sum(_closed_by_server(sock) for sock in slow)
            time.sleep(max(0.0, started + HEADER_TIMEOUT + 3 - time.monotonic()))
            cut_off = sum(_closed_by_server(sock) for sock in slow)
            after_cut = _median_ms(session, url + "/health")
        finally:
            stop.set()
            feeder.join()
            for sock in slow + idle:
                sock.close()

    figures = (
        f"{SLOW_CLIENTS} slow-header + {IDLE_CLIENTS} idle keep-alive connections: GET /health median "
        f"{busy_health:.1f} ms (idle {idle_health:.1f}), GET /v1/search {busy_search:.1f} ms (idle "
        f"{idle_search:.1f}); slow clients cut off after {HEADER_TIMEOUT} s: {cut_off}/{SLOW_CLIENTS} "
        f"({early} before); /health after {after_cut:.1f} ms"
    )
    ok = (
        busy_health <= ALLOWED * idle_health
        and busy_search <= ALLOWED * idle_search
        and cut_off == SLOW_CLIENTS
        and early == 0
    )
    summary.record("slow clients", "quick", figures, "ok" if ok else "FAILED")
    assert busy_health <= ALLOWED * idle_health, figures
    assert busy_search <= ALLOWED * idle_search, figures
    assert early == 0 and cut_off == SLOW_CLIENTS, figures
