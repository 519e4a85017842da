"""Starting code worker processes (`python -m agent.sandbox.worker`), and keeping one started ahead of the next run.

A worker runs inside bubblewrap when it can (agent.sandbox.bubblewrap), else as a plain child process; either way with
an environment of its own that holds none of the app's variables (no API key), and connected to the app by a
socket pair that carries only the plain-data protocol of agent.sandbox.protocol.

A worker needs about a second to import pandas and smolagents. The CLI and the page call `prestart()` as early as
they can, so that the next run's worker is ready when the file is loaded. Standard library only: importing this
module costs nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from agent.sandbox import bubblewrap
from agent.settings import ENVIRONMENT_DEFAULTS, PROJECT_ROOT

DEFAULT_MEMORY_BYTES = 4 * 1024**3
# Environment variables a plain (not bubblewrapped) worker keeps: what the interpreter needs, nothing secret.
_PLAIN_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "LD_LIBRARY_PATH", "SYSTEMROOT")


@dataclass
class Worker:
    """A started worker process and the socket to it; it says "ready" once its imports are done.

    Attributes:
        scratch: A folder of the app's for this worker (its log; the scratch folder itself when not sandboxed).
        sandboxed: Whether it runs inside bubblewrap.
    """

    process: subprocess.Popen
    sock: socket.socket
    scratch: str
    log: BinaryIO
    memory_bytes: int
    sandboxed: bool = False
    next_id: list[int] = field(default_factory=lambda: [0])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Kills the worker and every process below it, then closes its socket and log."""
        # bubblewrap's own init (PID 1 of the sandbox) was seen outliving a killed bwrap under load, waiting forever:
        # every process of the tree is held by a pidfd first, then killed.
        below = _descendant_handles(self.process.pid) if self.process.poll() is None else []
        if self.process.poll() is None:
            self.process.kill()
        for handle in below:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(handle, signal.SIGKILL)
            os.close(handle)
        with contextlib.suppress(subprocess.TimeoutExpired):  # a kill that did not land in 5 s
            self.process.wait(5)
        self.sock.close()
        self.log.close()


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _descendant_handles(pid: int) -> list[int]:
    """pidfds of every process below `pid` (Linux: /proc/PID/task/TID/children); none where that is unavailable."""
    if not hasattr(os, "pidfd_open"):
        return []
    handles, parents = [], [pid]
    while parents:
        parent = parents.pop()
        for listing in glob.glob(f"/proc/{parent}/task/*/children"):
            try:
                with open(listing) as children:
                    found = [int(child) for child in children.read().split()]
            except (OSError, ValueError):
                continue
            for child in found:
                try:
                    handle = os.pidfd_open(child)
                except OSError:  # gone already
                    continue
                if _parent_of(child) != parent:  # the number was reused between the listing and the pidfd
                    os.close(handle)
                    continue
                handles.append(handle)
                parents.append(child)
    return handles


# bwrap --die-with-parent ties the sandbox to the *thread* that started it (PR_SET_PDEATHSIG): a page script
# thread ends after every rerun, so every worker is started from this one long-lived thread instead.
_launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpi-worker-launcher")


def _plain_environment(scratch: str) -> dict[str, str]:
    root = str(PROJECT_ROOT)
    env = {name: os.environ[name] for name in _PLAIN_ENV_KEEP if name in os.environ}
    env.update(
        HOME=scratch,
        TMPDIR=scratch,
        PYTHONPATH=root,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
        **ENVIRONMENT_DEFAULTS,
    )
    return env


def worker_command(
    python_args: list[str], scratch: str, sandboxed: bool | None = None
) -> tuple[list[str], dict[str, str], bool]:
    """How to start `python *python_args` as a worker: (argv, environment, inside bubblewrap?).

    `{scratch}` in the arguments becomes the worker's scratch folder as the worker sees it. `sandboxed` None: inside
    bubblewrap when it works here (`bubblewrap.available()`).
    """
    sandboxed = bubblewrap.available() if sandboxed is None else sandboxed
    inner_scratch = bubblewrap.SCRATCH if sandboxed else scratch
    argv = [sys.executable, *(arg.replace("{scratch}", inner_scratch) for arg in python_args)]
    if sandboxed:
        return bubblewrap.command(argv, bubblewrap.environment()), {}, True
    return argv, _plain_environment(scratch), False


def launch(
    memory_bytes: int = DEFAULT_MEMORY_BYTES, scratch: str | None = None, python_args: list[str] | None = None
) -> Worker:
    """Starts a worker (a new app-side folder by default); it does not wait for it to be ready.

    Args:
        python_args: What the interpreter runs, `{fd}` being the socket's descriptor (default: agent.sandbox.worker).
    """
    return _launcher.submit(_launch_here, memory_bytes, scratch, python_args).result()


def _launch_here(memory_bytes: int, scratch: str | None, python_args: list[str] | None) -> Worker:
    """`launch` on the launcher thread (which bwrap --die-with-parent ties the worker's life to)."""
    if bubblewrap.probed() or not bubblewrap.worth_trying():
        return _start(memory_bytes, scratch, python_args, sandboxed=None)
    # The first worker of a process: bwrap's probe runs a Python of its own (40 ms of a 0.8 s CLI run, issue 19),
    # so the worker starts inside bwrap first and the probe runs while it imports. Where the probe fails, that
    # worker is replaced by a plain one before anybody sees it.
    try:
        worker = _start(memory_bytes, scratch, python_args, sandboxed=True)
    except Exception:  # bwrap could not even be started: the probe says why, the worker starts as it decides
        return _start(memory_bytes, scratch, python_args, sandboxed=None)
    if bubblewrap.available():
        return worker
    worker.kill()
    return _start(memory_bytes, worker.scratch, python_args, sandboxed=False)


def _start(
    memory_bytes: int, scratch: str | None, python_args: list[str] | None, sandboxed: bool | None
) -> Worker:
    scratch = scratch or tempfile.mkdtemp(prefix="kpi-narrator-")
    # A plain child process (not multiprocessing's spawn, which re-runs the parent's __main__) on a socket pair.
    ours, theirs = socket.socketpair()
    python_args = python_args or ["-m", "agent.sandbox.worker", "{fd}", str(memory_bytes), "{scratch}"]
    python_args = [arg.replace("{fd}", str(theirs.fileno())) for arg in python_args]
    try:
        argv, env, sandboxed = worker_command(python_args, scratch, sandboxed)
        log = open(os.path.join(scratch, "worker.log"), "wb")  # noqa: SIM115 - lives as long as the worker
        try:
            process = subprocess.Popen(
                argv,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=scratch,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            log.close()
            raise
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return Worker(process, ours, scratch, log, memory_bytes, sandboxed)


# The next run's worker: a Future while the launcher thread starts it (and, the first time, probes bubblewrap),
# which the caller spends importing instead; then the Worker.
_spare: Future[Worker] | None = None
_spare_cap = 0
_lock = threading.Lock()


def prestart(memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
    """Starts a worker for the next run unless one is already waiting or starting; returns at once (the start goes
    on in the launcher thread)."""
    global _spare, _spare_cap
    with _lock:
        if _spare is not None and not _spare.done():
            if _spare_cap == memory_bytes:
                return
            _spare.add_done_callback(_discard_result)  # starting with another cap: discarded once started
        elif _spare is not None:
            current = _resolved(_spare)
            if current is not None and current.alive() and current.memory_bytes == memory_bytes:
                return
            if current is not None:
                discard(current)
        _spare, _spare_cap = _launcher.submit(_launch_here, memory_bytes, None, None), memory_bytes


def _resolved(pending: Future[Worker] | None) -> Worker | None:
    """The started worker of a finished Future; None while it starts or when its start failed."""
    if pending is None or not pending.done() or pending.exception() is not None:
        return None
    return pending.result()


def _discard_result(pending: Future[Worker]) -> None:
    worker = _resolved(pending)
    if worker is not None:
        discard(worker)


def spare() -> Worker | None:
    """The waiting worker (awaiting its start), without taking it; None when there is none."""
    with _lock:
        pending = _spare
    if pending is None:
        return None
    try:
        return pending.result()
    except Exception:  # a start that failed: the next run starts its own worker and reports why
        return None


def take(memory_bytes: int) -> Worker | None:
    """The waiting worker, if there is a live one with this memory cap; it is then no longer the spare."""
    global _spare
    with _lock:
        pending, _spare = _spare, None
    if pending is None:
        return None
    try:
        worker = pending.result()
    except Exception:
        return None
    if worker.alive() and worker.memory_bytes == memory_bytes:
        return worker
    discard(worker)
    return None


def discard(worker: Worker) -> None:
    """Kills a worker and removes its folder."""
    worker.kill()
    shutil.rmtree(worker.scratch, ignore_errors=True)


def sandbox_status() -> str:
    """One sentence for the page and the CLI: how the agent's code is confined on this machine."""
    return bubblewrap.status()


def sandboxed() -> bool:
    """Whether workers run inside bubblewrap here (else `sandbox_status()` says what is missing)."""
    return bubblewrap.available()


@atexit.register
def discard_spare() -> None:
    """Kills the waiting worker, if any (awaiting a start under way, so that no process is left behind), so that the
    next run starts its own; also run at exit."""
    global _spare
    with _lock:
        pending, _spare = _spare, None
    if pending is not None:
        with contextlib.suppress(Exception):
            discard(pending.result())
