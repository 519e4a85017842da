"""Running the agent's code in a separate, confined worker process that can be killed.

smolagents' local executor runs code in the app's own process, and its time-out waits for the hung thread, so a
step like `sum(range(10**13))` (which no operation counter stops) blocks for good. Here each run gets a worker
process with smolagents' interpreter inside (same import allow-list, strict names). A step that runs past its
time limit gets the worker killed; a new worker is started and the earlier successful steps are replayed into it,
so the variables the agent made survive (when a replay fails or hangs, replaying stops and the model is told which
variables are gone).

Layers, outermost first: bubblewrap (agent.sandbox.bubblewrap: own file system, user, PID and network namespaces, empty
environment) where it is available; rlimits (address space, file size, processes, no core files); Landlock
(writes only beneath the scratch folder, no TCP); a seccomp filter (agent.sandbox.seccomp: no new processes, programs,
sockets or signals to others); the interpreter's guards (agent.sandbox.interpreter). The worker answers in plain JSON only
(agent.sandbox.protocol), which the app checks as untrusted input: no pickle crosses from the worker to the app.
"""

from __future__ import annotations

import ast
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from smolagents.local_python_executor import CodeOutput, InterpreterError, PythonExecutor
from smolagents.tools import Tool

from agent.sandbox import protocol, worker_pool
from agent.sandbox.protocol import ProtocolError
from agent.sandbox.worker_pool import DEFAULT_MEMORY_BYTES
from agent.settings import DEFAULT_STEP_TIMEOUT_S, PROJECT_ROOT

if TYPE_CHECKING:
    from agent.sandbox.figures import FigureCollector
_START_TIMEOUT_S = 60.0
_SEND_TIMEOUT_S = 120.0
MAX_FILE_BYTES = 1024**3  # one file the worker writes (its scratch tmpfs is capped as a whole too)
MAX_PROCESSES = 256  # threads count too (BLAS and Arrow start one per core); seccomp refuses new processes
# Replaying earlier steps after a kill may take this many step time-outs in all before it is given up, and one
# replayed step twice its time-out (it ran within it once; a busy machine can make it slower the second time).
REPLAY_BUDGET_STEPS = 3.0
REPLAY_STEP_SLACK = 2.0


def _block_network() -> None:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise PermissionError("network access is disabled for the agent's code")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.socket.sendto = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def _guard_writes(scratch: str) -> None:
    """Python-level file writes outside the scratch folder are refused (reads stay allowed)."""
    import builtins
    import io

    real_open = builtins.open
    root = os.path.realpath(scratch)

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, bytes, os.PathLike)) and any(flag in mode for flag in "wax+"):
            path = os.path.realpath(os.fsdecode(file))
            if not (path == root or path.startswith(root + os.sep)):
                raise PermissionError(
                    f"writing outside the scratch folder is not allowed: {os.fsdecode(file)}"
                )
        return real_open(file, mode, *args, **kwargs)

    builtins.open = guarded_open
    io.open = guarded_open


def _proxy_tools(names: list[str], sock: socket.socket) -> dict[str, Tool]:
    """Stand-ins in the worker for managed agents that live in the app (the change-log agent): calling one sends
    the question to the app mid-step and waits for its answer; nothing but the question's text leaves the worker."""

    def make(name: str) -> Tool:
        class AppSideAgent(Tool):
            description = f"The managed agent {name}: ask it a question in plain words."
            inputs = {
                "task": {"type": "string", "description": "The question for the agent."},
                "additional_args": {"type": "object", "description": "Unused.", "nullable": True},
            }
            output_type = "string"

            def forward(self, task: str, additional_args: dict | None = None) -> str:
                protocol.send_json(sock, {"kind": "ask", "id": None, "tool": name, "task": str(task)})
                answer = protocol.decode_request(protocol.recv_frame(sock))
                return str(answer.get("text", ""))

        AppSideAgent.name = name
        return AppSideAgent()

    return {name: make(name) for name in names}


# The errors an app-side tool's answer may name, raised as such in the worker (anything else: RuntimeError).
_TOOL_ERRORS: dict[str, type[Exception]] = {
    "ValueError": ValueError,
    "KeyError": KeyError,
    "TypeError": TypeError,
}


def _app_tool_proxies(names: list[str], sock: socket.socket) -> dict[str, Tool]:
    """Stand-ins in the worker for KPI tools that run in the app (`raw_rows`: the file's kept raw rows stay there).

    Calling one checks its arguments like the tool itself, sends them in an `ask` frame and returns the app's
    answer, a table read from Arrow IPC (never a pickle); the app's error is raised here with its own type.
    """
    from tools.kpi_tools import KPI_SPECS
    from tools.tool_spec import spec_tool

    specs = {spec.name: spec for spec in KPI_SPECS if spec.raw}

    def make(spec: Any) -> Tool:
        def forward(self: Tool, *args: Any, **kwargs: Any) -> Any:
            bound = spec.bind(*args, **kwargs)
            arguments = protocol.Cutter(max_items=protocol.MAX_ASK_ITEMS).plain(dict(bound.arguments))
            ask = {"kind": "ask", "id": None, "tool": spec.name, "task": "", "arguments": arguments}
            protocol.send_json(sock, ask)
            answer = protocol.decode_request(protocol.recv_frame(sock))
            if answer.get("error") or "variables" not in answer:
                message = answer.get("error") or answer.get("text") or f"{spec.name} is not available"
                raise _TOOL_ERRORS.get(str(answer.get("error_type")), RuntimeError)(message)
            values = [
                protocol.decode_variable(v["type"], protocol.recv_frame(sock)) for v in answer["variables"]
            ]
            return values[0] if values else None

        return spec_tool(spec, forward, suffix="proxy")

    return {name: make(specs[name]) for name in names if name in specs}


def _worker_tools(names: list[str]) -> dict[str, Tool]:
    from smolagents.default_tools import FinalAnswerTool

    from tools.kpi_tools import KPI_TOOLS

    known: dict[str, Tool] = {tool.name: tool for tool in KPI_TOOLS}
    known["final_answer"] = FinalAnswerTool()
    return {name: known[name] for name in names if name in known}


def _set_limits(memory_bytes: int) -> None:
    import resource

    limits = {
        resource.RLIMIT_FSIZE: MAX_FILE_BYTES,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NPROC: MAX_PROCESSES,
    }
    if memory_bytes:
        limits[resource.RLIMIT_AS] = memory_bytes
    for kind, value in limits.items():
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def readable_paths() -> list[str]:
    """What the worker may read besides its scratch folder: the runtime, system libraries, its two packages."""
    from agent.sandbox import bubblewrap

    root = PROJECT_ROOT
    devices = ["/dev/null", "/dev/zero", "/dev/urandom"]
    packages = [str(root / "agent"), str(root / "tools")]
    return [*bubblewrap._python_paths(), *bubblewrap._library_paths(), *packages, *devices]


def confine(memory_bytes: int, scratch: str) -> dict[str, bool]:
    """Everything the worker process does to itself before it runs any code (inside bubblewrap, or not).

    Returns:
        Which kernel layers took hold: {"landlock": ..., "seccomp": ...}.
    """
    _set_limits(memory_bytes)
    os.chdir(scratch)
    # `-m` put the working folder first on sys.path: a module the code writes there must never be imported.
    sys.path[:] = [p for p in sys.path if p not in ("", ".", scratch, os.getcwd())]
    # Imports first: after the restrictions below, only the runtime's own files may be read.
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    from agent.sandbox import figures, interpreter, seccomp  # noqa: F401
    from agent.sandbox.landlock import restrict_to
    from tools import bound_tools, kpi_tools  # noqa: F401

    landlock = restrict_to(scratch, readable_paths()) > 0  # writes, reads and TCP, where Landlock exists
    filtered = seccomp.forbid()  # no processes, programs, sockets or signals to others
    _block_network()
    _guard_writes(scratch)
    return {"landlock": landlock, "seccomp": filtered}


def _worker_main(fd: int, memory_bytes: int, scratch: str) -> None:
    """The worker's loop: receive tools, variables and code; answer with plain JSON (agent.sandbox.protocol)."""
    # stdout/stderr go to the app's log file, which only start-up errors need: once ready, to /dev/null, so code
    # that floods them (from native code, say) fills nothing. Opened before Landlock forbids writing there.
    sink = os.open(os.devnull, os.O_WRONLY)
    confine(memory_bytes, scratch)
    from agent.sandbox.figures import FigureCollector, install_show_capture
    from agent.sandbox.interpreter import local_executor

    sock = socket.socket(fileno=fd)
    executor = local_executor()
    install_show_capture()
    figures = FigureCollector()
    drawn: list[dict] = []  # charts drawn by bound tools (tool-calling agent)
    protocol.send_json(sock, {"kind": "ready", "id": None})
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    warming = _warm_up()
    while True:
        warm_while_idle(sock, warming)
        try:
            request = protocol.decode_request(protocol.recv_frame(sock))
        except EOFError:
            return
        kind, request_id = request.get("kind"), request.get("id")
        try:
            reply = _answer(kind, request, sock, executor, figures, drawn)
            message = protocol.cut_reply({**reply, "id": request_id})
        except Exception as error:  # an object of the code's that cannot be converted must not end the worker
            message = {
                "kind": "error",
                "id": request_id,
                "message": f"The result could not be sent back "
                f"({type(error).__name__}); return plain text, numbers, lists or dicts.",
                "logs": "",
            }
        protocol.send_json(sock, message)


def warm_while_idle(sock: socket.socket, warming: Iterator[bool]) -> int:
    """Runs warm-up pieces until a request is waiting on `sock` or none are left, and returns how many ran: a request
    never waits for more than the one piece under way."""
    ran = 0
    while not _pending(sock) and next(warming, False):
        ran += 1
    return ran


def _pending(sock: socket.socket) -> bool:
    """Whether a request is waiting on the socket (without reading it)."""
    import select

    poller = select.poll()  # not select.select: it fails on a descriptor number over 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _warm_up() -> Iterator[bool]:
    """Runs `warm_up_pieces` one at a time, while the worker waits for work (see `_worker_main`); yields True after
    each piece (a bare `yield` gave None, which the loop read as "done": one piece ran per request)."""
    import contextlib

    try:
        pieces = warm_up_pieces()
    except Exception:  # nothing to warm: the first step pays its first calls
        return
    for piece in pieces:
        with contextlib.suppress(Exception):  # a piece that fails leaves its first call to the first step
            piece()
        yield True


def warm_up_pieces() -> list[Callable[[], object]]:
    """Calls of the KPI tools on a two-segment table, made by a worker before its first step needs them.

    The first call of each costs more than the rest (plotly's validators, pandas' first paths: 80 ms in a fresh
    process, most of the sample's 0.12 s report step), and a worker started ahead of its run, or while the app loads
    the file, has nothing else to do. Nothing they make is kept. The first chart is cut into plotly's template (57 ms),
    an empty figure (21 ms) and the chart itself (48 ms): a request that arrives meanwhile waits for one of them, not
    for all 110 ms.
    """
    import pandas as pd

    from agent.sandbox.figures import figure_to_dict
    from tools.kpi_tools import KPI_TOOLS

    tool = {t.name: t for t in KPI_TOOLS}
    df = pd.DataFrame(
        {
            "a": pd.Categorical(["x", "y"]),
            "b": pd.Categorical(["u", "v"]),
            "m_before": [1.0, 2.0],
            "m_after": [2.0, 1.0],
        }
    )
    made: dict[str, Any] = {}
    return [
        lambda: tool["metric_totals"](df, metric="m"),
        lambda: tool["top_slices"](df, metric="m", dimensions=["a", "b"]),
        lambda: made.setdefault("changes", tool["segment_changes"](df, metric="m", dimension="a")),
        _plotly_template,
        _empty_figure,
        lambda: figure_to_dict(tool["change_chart"](made["changes"], dimension="a")),
        lambda: figure_to_dict(
            tool["waterfall_chart"](made["changes"], dimension="a", before_total=3.0, after_total=3.0)
        ),
        lambda: figure_to_dict(tool["change_heatmap"](df, metric="m", rows="a", columns="b")),
        lambda: figure_to_dict(tool["size_change_chart"](df, metric="m", dimensions=["a", "b"])),
    ]


def _plotly_template() -> object:
    import plotly.io as pio

    return pio.templates[pio.templates.default]


def _empty_figure() -> object:
    import plotly.graph_objects as go

    return go.Figure()


def _answer(
    kind: object,
    request: dict[str, Any],
    sock: socket.socket,
    executor: PythonExecutor,
    figures: FigureCollector,
    drawn: list[dict[str, Any]],
) -> dict[str, Any]:
    """The worker's reply to one request, before it is cut to size."""
    from tools import bound_tools

    if kind == "tools":
        executor.send_tools(
            {
                **_worker_tools(request["names"]),
                **_proxy_tools(request.get("proxies", []), sock),
                **_app_tool_proxies(request.get("app_tools", []), sock),
            }
        )
        return {"kind": "ok"}
    if kind == "variables":
        values = {}
        for spec in request["variables"]:
            values[spec["name"]] = protocol.decode_variable(spec["type"], protocol.recv_frame(sock))
        executor.send_variables(values)
        return {"kind": "ok"}
    if kind == "run":
        reply = _run_code(executor, request["code"])
        reply["figures"] = figures.collect(executor.state)
        return reply
    if kind == "call":
        reply = bound_tools.call_in_worker(
            executor.state.get("df"), request["tool"], request["arguments"], drawn
        )
        reply["figures"], drawn[:] = list(drawn), []
        return reply
    return {"kind": "error", "message": f"unknown request {kind!r}"}


def _run_code(executor: PythonExecutor, code: str) -> dict[str, Any]:
    try:
        result = executor(code)
    except Exception as error:  # the interpreter's error, shown to the agent as the step's error
        logs = str(executor.state.get("_print_outputs", ""))
        return {"kind": "error", "message": protocol.safe_str(error), "logs": logs}
    if result.is_final_answer:
        return {"kind": "done", "output": result.output, "final": True, "logs": result.logs}
    output = None if result.output is None else protocol.safe_str(result.output)
    return {"kind": "done", "output": output, "final": False, "logs": result.logs}


def assigned_names(code: str) -> list[str]:
    """Variable names a piece of code assigns, in order (for "these variables are gone")."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
            names.append(node.id)
    return names


class WorkerFailed(Exception):
    """A worker step could not finish: it timed out, the worker died, or it sent an unacceptable reply."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason  # "timeout", "died" or "protocol"


class ProcessExecutor(PythonExecutor):
    """A smolagents executor whose code runs in a killable, confined worker process.

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
        self._app_agents: dict[str, Any] = {}  # managed agents the code may ask, run here in the app
        self._app_tools: dict[str, Tool] = {}  # KPI tools run here in the app (raw_rows), asked by the code
        self._variables: dict[str, tuple[dict, Any]] = {}  # blobs: bytes or Arrow buffers
        self._worker: worker_pool.Worker  # set by _start()
        self._replay: list[str] = []  # code of the steps that succeeded, to rebuild variables after a kill
        self._figures: list[dict] = []
        self.app_answer_bytes: list[int] = []  # the size of each app-side tool's answer sent to the worker
        self._start()

    @property
    def worker_pid(self) -> int:
        return self._worker.process.pid

    @property
    def scratch(self) -> str:
        """The app-side folder of the worker (its log; its scratch folder too when it is not sandboxed)."""
        return self._worker.scratch

    @property
    def sandboxed(self) -> bool:
        """Whether the worker runs inside bubblewrap."""
        return self._worker.sandboxed

    def replace_worker(self, worker: worker_pool.Worker) -> None:
        """Puts a worker started elsewhere (`worker_pool.launch`, possibly running another program) in place of
        the current one, which is discarded; the new one is awaited on first use and gets no tools or variables.

        For tests that play the worker's end of the socket: what the app accepts from a worker is checked
        through the executor's public calls, as a run would make them.
        """
        worker_pool.discard(self._worker)
        self._worker = worker
        self._ready = False

    def _start(self, scratch: str | None = None) -> None:
        # A worker started ahead of time (worker_pool.prestart) is taken when there is one, else a new one starts;
        # either way it is awaited on first use. A restart keeps the app-side folder.
        self._worker = (None if scratch else worker_pool.take(self.memory_bytes)) or worker_pool.launch(
            self.memory_bytes, scratch
        )
        self._ready = False

    def _await_ready(self) -> None:
        if self._ready:
            return
        try:
            reply = protocol.read_reply(self._worker.sock, time.monotonic() + _START_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError("the code worker did not start within a minute") from None
        except (EOFError, OSError, ProtocolError):
            self._worker.log.flush()
            log = Path(self.scratch, "worker.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the code worker failed to start: {log}") from None
        if reply["kind"] != "ready":
            raise RuntimeError("the code worker failed to start: it did not say it was ready")
        self._ready = True

    def _request(self, message: dict[str, Any], timeout: float, blobs: Sequence[Any] = ()) -> dict[str, Any]:
        """Sends a request and returns the worker's checked reply; WorkerFailed when there is none to use."""
        try:
            self._await_ready()
            worker = self._worker
            worker.next_id[0] += 1
            request_id = worker.next_id[0]
            protocol.send_json(worker.sock, {**message, "id": request_id}, _SEND_TIMEOUT_S)
            for blob in blobs:
                protocol.send_frame(worker.sock, blob, _SEND_TIMEOUT_S)
            deadline = time.monotonic() + timeout
            reply = protocol.read_reply(worker.sock, deadline)
            while reply["kind"] == "ask" and reply.get("id") is None:
                asked = time.monotonic()
                if reply["tool"] in self._app_tools:  # a bounded KPI tool: its time is the step's
                    self._answer_app_tool(reply["tool"], reply["arguments"])
                else:
                    text = self._ask(reply["tool"], reply["task"])
                    protocol.send_json(
                        worker.sock, {"kind": "answer", "id": None, "text": text}, _SEND_TIMEOUT_S
                    )
                    deadline += time.monotonic() - asked  # the managed agent's time is not the step's
                reply = protocol.read_reply(worker.sock, deadline)
        except TimeoutError:
            raise WorkerFailed("timeout", f"ran longer than {timeout:g} s") from None
        except ProtocolError as error:
            raise WorkerFailed("protocol", f"sent a reply the app cannot accept: {error}") from None
        except (EOFError, OSError) as error:
            raise WorkerFailed("died", f"died ({type(error).__name__})") from None
        if reply.get("id") != request_id:  # frames written by the code itself, out of turn
            raise WorkerFailed("protocol", "sent a reply the app cannot accept: out of turn")
        return reply

    def _ask(self, name: str, task: str) -> str:
        """Runs a managed agent here in the app for code in the worker; its failure is the code's error text."""
        agent = self._app_agents.get(name)
        if agent is None:
            return f"Error: there is no managed agent named {name!r}."
        try:
            return str(agent(task=task))
        except Exception as error:  # the agent's model failed: the calling code reads it and goes on
            return f"Error: the managed agent {name} failed ({type(error).__name__}: {str(error)[:300]})."

    def _answer_app_tool(self, name: str, arguments: dict[str, Any]) -> None:
        """Runs an app-side KPI tool for code in the worker and sends its result as Arrow IPC (or its error).

        The arguments are the worker's (untrusted): the tool checks them as it checks the code agent's own.
        """
        try:
            value = self._app_tools[name](**arguments)
            specs, blobs = protocol.encode_variables({"result": value})
            size = sum(memoryview(blob).nbytes for blob in blobs)
            if size > protocol.MAX_ANSWER_BYTES:
                raise ValueError(
                    f"its answer of {size:,} bytes is over the {protocol.MAX_ANSWER_BYTES:,}-byte cap"
                )
        except Exception as error:  # the code's error: it reads it and goes on
            message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
            answer = {"kind": "answer", "id": None, "error": message[:2000] or type(error).__name__}
            protocol.send_json(
                self._worker.sock, {**answer, "error_type": type(error).__name__}, _SEND_TIMEOUT_S
            )
            return
        self.app_answer_bytes.append(size)
        header = {"kind": "answer", "id": None, "variables": specs}
        protocol.send_json(self._worker.sock, header, _SEND_TIMEOUT_S)
        for blob in blobs:
            protocol.send_frame(self._worker.sock, blob, _SEND_TIMEOUT_S)

    def _tools_request(self) -> dict[str, Any]:
        return {
            "kind": "tools",
            "names": self._tool_names,
            "proxies": list(self._app_agents),
            "app_tools": list(self._app_tools),
        }

    def _send_state(self) -> None:
        self._request(self._tools_request(), _START_TIMEOUT_S)
        if self._variables:
            specs = [spec for spec, _ in self._variables.values()]
            blobs = [blob for _, blob in self._variables.values()]
            self._request({"kind": "variables", "variables": specs}, _START_TIMEOUT_S, blobs)

    def _fresh_worker(self, steps: list[str], deadline: float) -> tuple[int, str | None, bool]:
        """Replaces the worker by a new one holding the tools and variables, and replays `steps` into it.

        Returns:
            How many steps were replayed, what stopped the replay (None: nothing), and whether the worker is
            still usable (False after a replay step timed out, died or broke the protocol).
        """
        self._worker.kill()
        self._start(self.scratch)
        try:
            self._send_state()
        except (WorkerFailed, RuntimeError) as error:
            return 0, f"a fresh worker could not be prepared: {error}", False
        for index, code in enumerate(steps):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return index, "replaying took too long", True
            try:
                limit = min(REPLAY_STEP_SLACK * self.step_timeout, remaining)
                reply = self._request({"kind": "run", "code": code}, limit)
            except WorkerFailed as error:
                return index, f"replaying step {index + 1} {error}", False
            if reply["kind"] != "done":
                return index, f"step {index + 1} failed again: {reply.get('message', '')[:200]}", True
        return len(steps), None, True

    def _restart(self) -> str:
        """Kills the worker and starts a fresh one with the same tools and variables, replaying earlier steps.

        A replay that fails or hangs is not tried again: the steps before it are kept, the rest are dropped.

        Returns:
            A sentence for the model: its variables were kept, or which ones are gone.
        """
        steps = self._replay
        budget = REPLAY_BUDGET_STEPS * self.step_timeout
        replayed, problem, usable = self._fresh_worker(steps, time.monotonic() + budget)
        if problem is None:
            return "Variables from earlier steps were kept."
        if not usable:  # the worker that hung on a replay is gone: a clean one gets the good steps again
            replayed, _, usable = self._fresh_worker(steps[:replayed], time.monotonic() + budget)
            if not usable:
                replayed = 0
                self._fresh_worker([], time.monotonic() + budget)
        self._replay = steps[:replayed]
        kept = {name for step in steps[:replayed] for name in assigned_names(step)}
        gone = sorted({name for step in steps[replayed:] for name in assigned_names(step)} - kept)
        names = ", ".join(f"`{name}`" for name in gone) or "none"
        return (
            f"Earlier steps could not be replayed ({problem}), so replaying stopped. Variables now gone: {names}; "
            "compute again the ones you need."
        )

    def send_tools(self, tools: dict[str, Tool]) -> None:
        from tools.tool_spec import runs_in_app

        # KPI tools that read the run's kept raw rows run in the app; the worker gets a stand-in.
        self._app_tools = {n: t for n, t in tools.items() if runs_in_app(t)}
        tools = {n: t for n, t in tools.items() if n not in self._app_tools}
        known = set(_worker_tools(list(tools)))
        # Managed agents (smolagents agents given as tools) run in the app; the worker gets a stand-in for each.
        self._app_agents = {n: t for n, t in tools.items() if n not in known and hasattr(t, "memory")}
        unknown = sorted(set(tools) - known - set(self._app_agents))
        if unknown:
            raise ValueError(
                f"tool(s) {', '.join(unknown)} cannot run in the worker process; use the local executor"
            )
        self._tool_names = [n for n in tools if n not in self._app_agents]
        self._checked(self._request(self._tools_request(), _START_TIMEOUT_S))

    def send_variables(self, variables: dict[str, Any]) -> None:
        specs, blobs = protocol.encode_variables(variables)
        new = {spec["name"]: (spec, blob) for spec, blob in zip(specs, blobs, strict=True)}
        self._variables.update(new)
        self._checked(self._request({"kind": "variables", "variables": specs}, _START_TIMEOUT_S, blobs))

    @staticmethod
    def _checked(reply: dict[str, Any]) -> None:
        if reply["kind"] != "ok":
            raise RuntimeError(f"the code worker refused: {reply.get('message', reply['kind'])}")

    def __call__(self, code_action: str) -> CodeOutput:
        self.state["_print_outputs"] = ""
        try:
            reply = self._request({"kind": "run", "code": code_action}, self.step_timeout)
        except WorkerFailed as error:
            note = self._restart()
            if error.reason == "timeout":
                raise InterpreterError(
                    f"The step ran longer than {self.step_timeout:g} s and was stopped. {note} Make the code "
                    "cheaper: whole-column pandas operations, no loops over rows."
                ) from None
            if error.reason == "died":
                raise InterpreterError(
                    f"The code worker died during this step (out of memory?). {note}"
                ) from None
            raise InterpreterError(f"The code worker {error} and was stopped. {note}") from None
        self._figures.extend(reply.get("figures", []))
        logs = reply.get("logs", "")
        if reply.get("notes"):  # what the worker cut, said where the model reads the step's output
            logs += ("" if not logs or logs.endswith("\n") else "\n") + "".join(
                f"[{n}]\n" for n in reply["notes"]
            )
        self.state["_print_outputs"] = logs
        if reply["kind"] == "error":
            raise InterpreterError(reply.get("message", "") or "the step failed")
        if reply["kind"] != "done":
            raise InterpreterError("The code worker sent a reply of the wrong kind.")
        self._replay.append(code_action)
        return CodeOutput(output=reply["output"], logs=logs, is_final_answer=reply["final"])

    def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[str, list[dict]]:
        """Runs a bound tool of the tool-calling agent (tools.bound_tools) in the worker, under its limits.

        Returns:
            The tool's text and the charts it drew.
        """
        try:
            reply = self._request({"kind": "call", "tool": name, "arguments": arguments}, self.step_timeout)
        except WorkerFailed as error:
            self._worker.kill()
            self._start(self.scratch)
            self._send_state()
            raise RuntimeError(
                f"The tool {name} {error} and was stopped; use fewer or other arguments."
            ) from None
        if reply["kind"] != "tool" or reply.get("failed"):
            raise RuntimeError(reply.get("message") or f"The tool {name} failed.")
        text = reply["message"] + "".join(f" [{note}]" for note in reply.get("notes", []))
        return text, reply.get("figures", [])

    def take_figures(self) -> list[dict]:
        """Figures made since the last call, in order."""
        figures, self._figures = self._figures, []
        return figures

    def cleanup(self) -> None:
        # The worker holds nothing worth a graceful exit; freeing a million-row table before exiting took 0.4 s.
        worker_pool.discard(self._worker)
