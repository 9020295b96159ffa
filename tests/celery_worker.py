"""A real Celery worker in a subprocess, on the real Redis broker and the test database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER'] or ''}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, *, providers: dict, media_root: str, log_dir: Path, concurrency: int = 4,
                 queue: str | None = None, stale_after: float = 900, visibility_timeout: float = 3600,
                 database_url: str | None = None, name: str | None = None) -> None:
        self.queue = queue or f"blogimages-test-{uuid.uuid4().hex[:8]}"
        # Distinct node names when several workers read one queue (their control queues).
        self.name = name or self.queue
        self.concurrency = concurrency
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "DATABASE_URL": database_url or test_database_url(),
            "MEDIA_ROOT": media_root,
            "BLOGIMAGES_TEST_PROVIDERS": json.dumps(providers),
            "BLOGIMAGES_TEST_QUEUE": self.queue,
            "BLOGIMAGES_TEST_STALE_AFTER": str(stale_after),
            "BLOGIMAGES_TEST_VISIBILITY_TIMEOUT": str(visibility_timeout),
        }
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self._starts = 0

    def start(self, timeout: float = 60) -> Worker:
        self._starts += 1
        self.log_path = self.log_dir / f"worker-{self._starts}.log"
        with open(self.log_path, "wb") as log:  # the worker writes to its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c",
                 str(self.concurrency), "-Q", self.queue, "-n", f"{self.name}-{self._starts}@%h", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-l", "INFO"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole worker: no warm shutdown, no ack, no cleanup."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(condition, timeout: float = 30, what: str = "condition") -> None:
    """Poll `condition()` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached after {timeout}s")
