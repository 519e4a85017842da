"""Running the agent's code in a separate worker process that can be killed.

smolagents' local executor runs code in the app's own process, and its time-out waits for the hung thread, so a
step like `sum(range(10**13))` (which no operation counter stops) blocks for good. Here each run gets a worker
process with smolagents' interpreter inside (same import allow-list, strict names). A step that runs past its
time limit gets the worker killed; a new worker is started and the earlier successful steps are replayed into it,
so the variables the agent made survive. The worker has a memory cap, and on Linux with Landlock the kernel
forbids it to write outside its scratch folder and to open TCP connections (Python-level guards add clear
messages, and are the only guard where Landlock is missing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from smolagents.local_python_executor import CodeOutput, InterpreterError, PythonExecutor
from smolagents.tools import Tool

from agent import worker_pool
from agent.worker_pool import DEFAULT_MEMORY_BYTES

DEFAULT_STEP_TIMEOUT_S = 30.0
_START_TIMEOUT_S = 60.0


def _block_network() -> None:
    import socket

    def refuse(*args, **kwargs):
        raise PermissionError("network access is disabled for the agent's code")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def _guard_writes(scratch: str) -> None:
    """Python-level file writes outside the scratch folder are refused (reads stay allowed)."""
    import builtins
    import io

    real_open = builtins.open
    root = os.path.realpath(scratch)

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(flag in mode for flag in "wax+"):
            path = os.path.realpath(os.fsdecode(file))
            if not (path == root or path.startswith(root + os.sep)):
                raise PermissionError(
                    f"writing outside the scratch folder is not allowed: {os.fsdecode(file)}"
                )
        return real_open(file, mode, *args, **kwargs)

    builtins.open = guarded_open
    io.open = guarded_open


def _worker_tools(names: list[str]) -> dict[str, Tool]:
    from smolagents.default_tools import FinalAnswerTool

    from tools.kpi_tools import KPI_TOOLS

    known: dict[str, Tool] = {tool.name: tool for tool in KPI_TOOLS}
    known["final_answer"] = FinalAnswerTool()
    return {name: known[name] for name in names if name in known}


def _worker_main(connection, memory_bytes: int, scratch: str) -> None:
    """The worker's loop: receive tools, variables and code; send back output, logs and figures."""
    import resource

    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.chdir(scratch)
    # Imports first: after the restriction below, Python could not write its bytecode caches anywhere.
    from agent.executor import local_executor
    from agent.figures import FigureCollector
    from agent.landlock import restrict_to

    # The kernel's own wall (writes only beneath the scratch folder, no TCP) where Landlock exists; the
    # Python-level guards below also give clear messages, and are all there is on kernels without it.
    restrict_to(scratch)
    _block_network()
    _guard_writes(scratch)

    executor = local_executor()
    figures = FigureCollector()
    connection.send(("ready", None))
    while True:
        try:
            kind, payload = connection.recv()
        except EOFError:
            return
        if kind == "tools":
            executor.send_tools(_worker_tools(payload))
            connection.send(("ok", None))
        elif kind == "variables":
            executor.send_variables(payload)
            connection.send(("ok", None))
        elif kind == "run":
            try:
                result = executor(payload)
                reply = (
                    "done",
                    _portable(result.output, result.is_final_answer),
                    result.logs,
                    result.is_final_answer,
                )
            except Exception as error:  # the interpreter's error, shown to the agent as the step's error
                logs = str(executor.state.get("_print_outputs", ""))
                reply = ("error", f"{error}", logs, False)
            connection.send((*reply, figures.collect(executor.state)))


def _portable(value: Any, is_final: bool) -> Any:
    """A final answer goes back as itself when it can be pickled; anything else as its text."""
    import pickle

    if is_final:
        try:
            pickle.dumps(value)
            return value
        except Exception:
            return str(value)
    return None if value is None else str(value)


class ProcessExecutor(PythonExecutor):
    """A smolagents executor whose code runs in a killable worker process.

    Args:
        step_timeout: Seconds a step may run before the worker is killed and the step fails.
        memory_bytes: Address-space cap of the worker (0: none).
    """

    def __init__(
        self, step_timeout: float = DEFAULT_STEP_TIMEOUT_S, memory_bytes: int = DEFAULT_MEMORY_BYTES
    ):
        self.step_timeout = step_timeout
        self.memory_bytes = memory_bytes
        # The agent loop reads `state["_print_outputs"]` to show the prints of a failed step.
        self.state: dict[str, Any] = {"_print_outputs": ""}
        self._tool_names: list[str] = []
        self._variables: dict[str, Any] = {}
        self._replay: list[str] = []  # code of the steps that succeeded, to rebuild variables after a kill
        self._figures: list[dict] = []
        self._start()

    @property
    def worker_pid(self) -> int:
        return self._worker.process.pid

    @property
    def scratch(self) -> str:
        """The worker's folder: the only place its code may write."""
        return self._worker.scratch

    def _start(self, scratch: str | None = None) -> None:
        # A worker started ahead of time (worker_pool.prestart) is taken when there is one, else a new one starts;
        # either way it is awaited on first use. A restart keeps the scratch folder.
        self._worker = (None if scratch else worker_pool.take(self.memory_bytes)) or worker_pool.launch(
            self.memory_bytes, scratch
        )
        self._connection = self._worker.connection
        self._ready = False

    def _await_ready(self) -> None:
        if self._ready:
            return
        if not self._connection.poll(_START_TIMEOUT_S):
            raise RuntimeError("the code worker did not start within a minute")
        try:
            self._connection.recv()
        except EOFError:
            log = Path(self.scratch, "worker.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the code worker failed to start: {log}") from None
        self._ready = True

    def _request(self, kind: str, payload: Any, timeout: float | None) -> tuple:
        self._await_ready()
        self._connection.send((kind, payload))
        if not self._connection.poll(timeout):
            raise TimeoutError
        return self._connection.recv()

    def _restart(self) -> None:
        """Kills the worker and starts a fresh one holding the same tools, variables and replayed steps."""
        self._worker.kill()
        self._start(self.scratch)
        self._request("tools", self._tool_names, _START_TIMEOUT_S)
        self._request("variables", self._variables, _START_TIMEOUT_S)
        for code in self._replay:
            self._request("run", code, self.step_timeout)

    def send_tools(self, tools: dict[str, Tool]) -> None:
        known = set(_worker_tools(list(tools)))
        unknown = sorted(set(tools) - known)
        if unknown:
            raise ValueError(
                f"tool(s) {', '.join(unknown)} cannot run in the worker process; use the local executor"
            )
        self._tool_names = list(tools)
        self._request("tools", self._tool_names, _START_TIMEOUT_S)

    def send_variables(self, variables: dict[str, Any]) -> None:
        self._variables.update(variables)
        self._request("variables", dict(variables), _START_TIMEOUT_S)

    def __call__(self, code_action: str) -> CodeOutput:
        self.state["_print_outputs"] = ""
        try:
            status, output, logs, is_final, figures = self._request("run", code_action, self.step_timeout)
        except TimeoutError:
            self._restart()
            raise InterpreterError(
                f"The step ran longer than {self.step_timeout:g} s and was stopped. Variables from earlier steps "
                "were kept. Make the code cheaper: whole-column pandas operations, no loops over rows."
            ) from None
        except (EOFError, OSError, BrokenPipeError):
            self._restart()
            raise InterpreterError(
                "The code worker died during this step (out of memory?). Variables from earlier steps were kept."
            ) from None
        self._figures.extend(figures)
        self.state["_print_outputs"] = logs
        if status == "error":
            raise InterpreterError(output)
        self._replay.append(code_action)
        return CodeOutput(output=output, logs=logs, is_final_answer=is_final)

    def take_figures(self) -> list[dict]:
        """Figures made since the last call, in order."""
        figures, self._figures = self._figures, []
        return figures

    def cleanup(self) -> None:
        # The worker holds nothing worth a graceful exit; freeing a million-row table before exiting took 0.4 s.
        worker_pool.discard(self._worker)
