"""A real S3-compatible server for tests: moto in server mode on 127.0.0.1, in its own process.

The lake talks to it exactly as to AWS or MinIO: s3fs over HTTP, endpoint and credentials from the
environment (`s3_environment`). Nothing leaves the machine. The server keeps objects in memory
and dies with the test that started it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

START_TIMEOUT_S = 60.0


@contextmanager
def s3_server() -> Iterator[str]:
    """Start `python -m moto.server` on a free loopback port; yield its endpoint URL."""
    # The server logs a line per request: to a file, never an unread pipe, which would fill
    # after a few hundred requests and block the server mid-response.
    with tempfile.TemporaryFile("w+") as log:
        for _attempt in range(3):  # the port is picked before the server binds it: retry on a clash
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            endpoint = f"http://127.0.0.1:{port}"
            try:
                if _wait_ready(proc, endpoint):
                    yield endpoint
                    return
            finally:
                _stop(proc)
        log.seek(0)
        raise RuntimeError(f"moto's S3 server did not start on 127.0.0.1 in 3 tries: {log.read()[-2000:]}")


def s3_environment(endpoint: str) -> dict[str, str]:
    """What a user would export for an S3-compatible server: the standard AWS variables."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "foxml-test-key",
        "AWS_SECRET_ACCESS_KEY": "foxml-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, endpoint: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
