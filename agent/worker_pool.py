"""Starting code worker processes (`python -m agent._worker`), and keeping one started ahead of the next run.

A worker needs about a second to import pandas and smolagents. The CLI and the page call `prestart()` as early as
they can, so that the next run's worker is ready when the file is loaded. Standard library only: importing this
module costs nothing.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO

DEFAULT_MEMORY_BYTES = 4 * 1024**3


@dataclass
class Worker:
    """A started worker process and the socket to it; it says "ready" once its imports are done."""

    process: subprocess.Popen
    connection: Connection
    scratch: str
    log: BinaryIO
    memory_bytes: int

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        self.connection.close()
        self.log.close()


def launch(memory_bytes: int = DEFAULT_MEMORY_BYTES, scratch: str | None = None) -> Worker:
    """Starts a worker in `scratch` (a new temporary folder by default); it does not wait for it to be ready."""
    scratch = scratch or tempfile.mkdtemp(prefix="kpi-narrator-")
    # A plain child process (not multiprocessing's spawn, which re-runs the parent's __main__) on a socket pair.
    ours, theirs = socket.socketpair()
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    log = open(os.path.join(scratch, "worker.log"), "wb")  # noqa: SIM115 - lives as long as the worker
    process = subprocess.Popen(
        [sys.executable, "-m", "agent._worker", str(theirs.fileno()), str(memory_bytes), scratch],
        pass_fds=(theirs.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=scratch,
        env=env,
    )
    theirs.close()
    return Worker(process, Connection(ours.detach()), scratch, log, memory_bytes)


_spare: Worker | None = None
_lock = threading.Lock()


def prestart(memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
    """Starts a worker for the next run unless one is already waiting."""
    global _spare
    with _lock:
        if _spare is not None and _spare.alive() and _spare.memory_bytes == memory_bytes:
            return
        if _spare is not None:
            discard(_spare)
        _spare = launch(memory_bytes)


def take(memory_bytes: int) -> Worker | None:
    """The waiting worker, if there is a live one with this memory cap; it is then no longer the spare."""
    global _spare
    with _lock:
        worker, _spare = _spare, None
    if worker is not None and worker.alive() and worker.memory_bytes == memory_bytes:
        return worker
    if worker is not None:
        discard(worker)
    return None


def discard(worker: Worker) -> None:
    """Kills a worker and removes its scratch folder."""
    worker.kill()
    shutil.rmtree(worker.scratch, ignore_errors=True)


@atexit.register
def _discard_spare() -> None:
    with _lock:
        if _spare is not None:
            discard(_spare)
