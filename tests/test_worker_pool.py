"""Workers started ahead of a run: taken by the next executor, replaced when dead, never leaked."""

import os
from pathlib import Path

import pytest
from smolagents.default_tools import FinalAnswerTool

from agent.sandbox import bubblewrap, worker_pool
from agent.sandbox.process import ProcessExecutor


@pytest.fixture(autouse=True)
def no_spare():
    """Each test starts with no waiting worker (an earlier test's page or CLI run may have left one) and leaves none."""
    worker_pool.discard_spare()
    assert worker_pool.spare() is None
    yield
    worker_pool.discard_spare()


def test_the_next_executor_takes_the_prestarted_worker_and_cleans_it_up():
    worker_pool.prestart()
    worker_pool.prestart()  # one is starting already: nothing new starts
    spare = worker_pool.spare()
    assert spare is not None
    worker_pool.prestart()  # one is waiting already: nothing new starts
    assert worker_pool.spare() is spare
    executor = ProcessExecutor()
    assert executor.worker_pid == spare.process.pid and worker_pool.spare() is None
    executor.send_tools({"final_answer": FinalAnswerTool()})
    assert executor("x = 6 * 7\nprint(x)").logs.strip() == "42"
    executor.cleanup()
    assert spare.process.poll() is not None and not os.path.exists(spare.scratch)


def test_a_dead_or_different_spare_is_replaced_not_used():
    worker_pool.prestart()
    dead = worker_pool.spare()
    dead.process.kill()
    assert dead.process.wait(5) is not None and not dead.alive()
    worker_pool.prestart()
    assert worker_pool.spare() is not dead and worker_pool.spare().alive()
    other_cap = worker_pool.spare()
    executor = ProcessExecutor(
        memory_bytes=2 * 1024**3
    )  # the spare has the default cap: not taken, discarded
    assert executor.worker_pid != other_cap.process.pid
    assert other_cap.process.poll() is not None and not os.path.exists(other_cap.scratch)
    executor.cleanup()


def test_discarding_the_spare_kills_it_and_removes_its_folder():
    worker_pool.prestart()
    waiting = worker_pool.spare()
    assert waiting is not None and waiting.alive()
    worker_pool.discard_spare()
    assert worker_pool.spare() is None
    assert not waiting.alive() and not os.path.exists(waiting.scratch)


def test_a_spare_still_starting_with_another_cap_is_discarded_once_started():
    import time

    worker_pool.prestart()
    first = worker_pool._spare  # a Future: prestart returns while the launcher thread starts the worker
    worker_pool.prestart(2 * 1024**3)
    started = first.result(30)
    deadline = time.monotonic() + 10
    # discard() kills the process, then removes its folder: wait for both
    while (started.process.poll() is None or os.path.exists(started.scratch)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.process.poll() is not None and not os.path.exists(started.scratch)
    assert worker_pool.spare().memory_bytes == 2 * 1024**3


@pytest.mark.skipif(not bubblewrap.worth_trying(), reason="bubblewrap is not installed here")
def test_the_first_worker_starts_in_bubblewrap_before_the_probe_and_a_failed_probe_replaces_it(
    tmp_path, monkeypatch
):
    """The first worker of a process starts inside bwrap while the probe runs; where bwrap turns out not to work
    here, that worker is replaced by a plain one that answers, and the probe's reason is what the page shows."""
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(bubblewrap, "executable", lambda: str(broken))
    bubblewrap.probe.cache_clear()
    try:
        executor = ProcessExecutor()
        try:
            executor.send_tools({"final_answer": FinalAnswerTool()})
            assert executor("print(6 * 7)").logs.strip() == "42"
            assert executor.sandboxed is False
            assert "Permission denied" in bubblewrap.status()
        finally:
            executor.cleanup()
    finally:
        monkeypatch.undo()
        bubblewrap.probe.cache_clear()
    executor = ProcessExecutor()  # the real bwrap again: a fresh probe, a sandboxed worker
    try:
        executor.send_tools({"final_answer": FinalAnswerTool()})
        assert executor("print(1)").logs.strip() == "1" and executor.sandboxed is True
    finally:
        executor.cleanup()


def _tree(pid: int) -> list[int]:
    found, parents = [], [pid]
    while parents:
        parent = parents.pop()
        for listing in Path(f"/proc/{parent}/task").glob("*/children"):
            children = [int(child) for child in listing.read_text().split()]
            found += children
            parents += children
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_killing_a_worker_kills_every_process_of_its_tree():
    """bubblewrap's init inside the sandbox was seen outliving a killed bwrap: kill() ends the whole tree."""
    import time

    from agent.sandbox import protocol

    worker = worker_pool.launch()
    assert protocol.decode_request(protocol.recv_frame(worker.sock))["kind"] == "ready"
    below = _tree(worker.process.pid)
    assert below or not worker.sandboxed, "bwrap runs its init and the worker below itself"
    worker.kill()
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in below if Path(f"/proc/{pid}").exists()]
