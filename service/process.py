"""The service as a child process: ``make serve``'s command (service/front.py: nginx in front of
gunicorn) on a free 127.0.0.1 port, for the tests and the benchmark, started and stopped by them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SERVE_COMMAND = (sys.executable, "-m", "service.front")  # make serve's
SHARDED_COMMAND = (sys.executable, str(ROOT / "scripts" / "serve_sharded.py"), "--shards", "2")  # make serve-sharded's


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A serving command (``make serve``'s unless told; ``SHARDED_COMMAND``: ``make serve-sharded``'s),
    with its own port, index and environment; ``proc`` leads a process group of its own (the
    launcher, nginx, gunicorn's master and workers; or Ray's), which ``stop`` signals."""

    def __init__(self, index_dir: Path, log_path: Path, command: Sequence[str] = SERVE_COMMAND, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = os.environ | {"INDEX_DIR": str(index_dir), "HOST": "127.0.0.1", "PORT": str(self.port)} | env
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
