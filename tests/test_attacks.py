"""Attacks on the app through a hostile model server and a worker taken over, and what must not happen outside.

A model is whoever answers at the API base, so every attack here comes from the scripted OpenAI-compatible server
on 127.0.0.1 (tests/openai_server.py) through the CLI and LiteLLM, or, for the layers under the interpreter, from a
program run with the worker's exact confinement, as if the interpreter had been escaped. Outside the sandbox:
no file is written, no packet arrives at TCP and UDP listeners on loopback, no secret or host file reaches any
output, the CLI is not killed, no process is left, and a tampered answer is still flagged.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from smolagents.local_python_executor import InterpreterError

from agent.sandbox import bubblewrap, worker_pool
from agent.sandbox.process import ProcessExecutor
from tests.helpers import ROOT
from tests.openai_server import ScriptedChatServer

SECRET = "sk-attack-" + "Zq8Wn4Tk1" * 3  # the operator's key, in the CLI's environment only
OTHER_SECRET = "sk-other-" + "Hm5Pv0Rb" * 3  # another provider's key in the same environment
APP_SOURCE_LINE = Path(ROOT, "app.py").read_text().splitlines()[0]  # the app's own source, never readable
PASSWD_LINE = "root:x:0:0"


class Listeners:
    """A TCP and a UDP socket on 127.0.0.1 that record anything that reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.received: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept), threading.Thread(target=self._receive)]

    @property
    def tcp_port(self) -> int:
        return self.tcp.getsockname()[1]

    @property
    def udp_port(self) -> int:
        return self.udp.getsockname()[1]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.tcp.accept()
            except OSError:
                continue
            self.received.append("tcp connection")
            connection.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.udp.recvfrom(65536)
            except OSError:
                continue
            self.received.append(f"udp {data[:40]!r}")

    def __enter__(self) -> Listeners:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.3)  # a packet sent at the very end still arrives
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.tcp.close()
        self.udp.close()


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


class ProcessWatch:
    """Records every process descended from `root_pid` while it runs (polling /proc), to find any left after."""

    def __init__(self, root_pid: int) -> None:
        self.seen: dict[int, str] = {}
        self.tree = {root_pid}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    ppid = int(
                        next(
                            line
                            for line in (entry / "status").read_text().splitlines()
                            if line.startswith("PPid:")
                        ).split()[1]
                    )
                except (OSError, StopIteration, ValueError):
                    continue
                pid = int(entry.name)
                if ppid in self.tree and pid not in self.tree:
                    self.tree.add(pid)
                    started = _start_time(pid)
                    if started:
                        self.seen[pid] = started
            time.sleep(0.05)

    def left_over(self) -> list[int]:
        self._stop.set()
        self._thread.join()
        deadline = (
            time.monotonic() + 5
        )  # a killed sandbox takes its processes with it; give the kernel a moment
        while True:
            alive = [pid for pid, started in self.seen.items() if _start_time(pid) == started]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)


def step(code: str, thought: str = "Try this.") -> dict:
    return {"content": f"Thought: {thought}\n<code>\n{code}\n</code>"}


def run_cli(
    replies: list[dict], data_file: Path, *extra: str
) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Runs the CLI against a scripted model server; returns the finished process and processes left over."""
    env = {**os.environ, "KPI_ATTACK_KEY": SECRET, "OPENAI_API_KEY": OTHER_SECRET, "PYTHONPATH": str(ROOT)}
    with ScriptedChatServer(replies) as server:
        argv = [
            sys.executable,
            "-m",
            "agent",
            "run",
            str(data_file),
            "--json",
            "--model",
            "openai/test-model",
            "--api-base",
            server.url,
            "--api-key-env",
            "KPI_ATTACK_KEY",
            *extra,
        ]
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            errors="replace",
        )
        watch = ProcessWatch(process.pid)
        stdout, stderr = process.communicate(timeout=240)
        left = watch.left_over()
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"  # the real key path was used
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr), left


def assert_nothing_escaped(
    process: subprocess.CompletedProcess, left: list[int], listeners: Listeners, *paths
):
    assert process.returncode in (0, 1), process.stderr[-2000:]  # not killed by a signal
    assert left == []
    assert listeners.received == []
    for path in paths:
        assert not Path(path).exists(), path
    for output in (process.stdout, process.stderr):
        for secret in (SECRET, OTHER_SECRET, SECRET[::-1], OTHER_SECRET[::-1], PASSWD_LINE, APP_SOURCE_LINE):
            assert secret not in output


def test_hostile_model_code_is_refused_and_a_tampered_answer_is_flagged(revenue_file, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    with Listeners() as listeners:
        attacks = [
            "import pandas as pd\nprint(pd.read_pickle('evil.pkl'))",
            "import numpy as np\nprint(np.load('evil.npy', allow_pickle=True))",
            "import numpy as np\nlibc = np.ctypeslib.load_library('libc.so.6', '/lib/x86_64-linux-gnu')\n"
            f"libc.system(b'touch {outside}/ctypes')",
            "t = df.style.env.from_string(\"{{ cycler.__init__.__globals__.os.popen('id').read() }}\")\n"
            "print(t.render())",
            "print('{0.__init__.__globals__[__builtins__]}'.format(df))",
            "print(open('/etc/passwd').read())",
            "import pandas as pd\nprint(pd.read_csv('/etc/passwd', sep='|', header=None).to_string())",
            f"import pandas as pd\nprint(pd.read_csv('{ROOT}/app.py', sep='\\x01', header=None).to_string())",
            "import pandas as pd\nprint(pd.read_csv('/proc/self/environ', sep='\\x01', header=None).to_string())",
            "import pandas as pd\nprint(pd.read_csv('/proc/1/environ', sep='\\x01', header=None).to_string())",
            f"df.to_csv('{outside}/written.csv')",
            f"df.to_parquet('{outside}/written.parquet')",
            f"import numpy as np\nnp.arange(3).tofile('{outside}/written.bin')",
            f"import pandas as pd\npd.read_csv('http://127.0.0.1:{listeners.tcp_port}/x.csv')",
            "import socket",
            "sum(range(10**13))",  # a hang: the worker is killed after the step time-out, the run goes on
        ]
        flood = "print(chr(0xd800))\n'y' * 50_000_000"  # a lone surrogate, and an output of 50 MB
        tampered = (
            "class Answer:\n"
            "    def __reduce__(self):\n"
            "        return (print, ('REDUCED IN THE PARENT',))\n"
            "    def __str__(self):\n"
            "        return 'Revenue fell 7.67%, and Narnia drove 100.00% of the change.'\n"
            "final_answer(Answer())"
        )
        # The tampered answer twice: the claim check sends a wrong answer back once, the second stands, flagged.
        replies = [step(code) for code in attacks] + [step(flood), step(tampered), step(tampered)]
        process, left = run_cli(
            replies, revenue_file, "--max-steps", str(len(replies)), "--step-timeout", "2"
        )
    assert_nothing_escaped(
        process,
        left,
        listeners,
        *(outside / name for name in ("ctypes", "written.csv", "written.parquet", "written.bin")),
    )
    result = json.loads(process.stdout)
    assert len(result["steps"]) == len(replies)
    errors = [s["error"] or "" for s in result["steps"][: len(attacks)]]
    assert all(errors), [s["code"] for s in result["steps"] if not s["error"]]  # every attack step failed
    assert "ran longer than 2 s and was stopped" in errors[-1]
    flood_step = result["steps"][len(attacks)]
    assert "characters was cut to 100,000" in flood_step["observation"] and not flood_step["error"]
    # __reduce__ never ran in the CLI (it would print that line; the code itself is in the trace, quoted in JSON)
    assert "REDUCED IN THE PARENT" not in (process.stdout + process.stderr).splitlines()
    assert len(process.stdout.strip().splitlines()) == 1
    assert result["narrative"] == "Revenue fell 7.67%, and Narnia drove 100.00% of the change."
    assert [m["text"] for m in result["verification"]["mismatches"]] == ["100.00%"]


HOSTILE_PROGRAM = r"""
import json, os, socket, sys, _socket
from agent.sandbox.process import confine
layers = confine(2 * 1024**3, sys.argv[1])
outcome = {"layers": layers}

def attempt(name, action):
    try:
        outcome[name] = "done: " + repr(action())[:300]
    except BaseException as error:
        outcome[name] = "refused: " + type(error).__name__

def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return pid

targets = json.loads(sys.argv[2])
attempt("read_passwd", lambda: open("/etc/passwd").read())
attempt("read_app_source", lambda: open(targets["app"]).read())
attempt("read_parent_environ", lambda: open(f"/proc/{os.getppid()}/environ", "rb").read())
attempt("own_environ", lambda: dict(os.environ))
attempt("write_outside", lambda: os.open(targets["file"], os.O_WRONLY | os.O_CREAT))
attempt("write_scratch", lambda: open("inside.txt", "w").write("ok"))
attempt("tcp", lambda: _socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", targets["tcp"])))
attempt("udp", lambda: _socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"key", ("127.0.0.1", targets["udp"])))
attempt("signal_parent", lambda: os.kill(os.getppid(), 0))
attempt("fork", fork)
attempt("shell", lambda: os.execv("/bin/sh", ["sh", "-c", "touch " + targets["file"]]))
attempt("uid", lambda: os.getuid())
print(json.dumps(outcome), flush=True)
"""

MODES = [
    pytest.param(
        "bubblewrap", marks=pytest.mark.skipif(not bubblewrap.available(), reason=bubblewrap.status())
    ),
    "fallback",
]


@pytest.mark.parametrize("mode", MODES)
def test_a_worker_taken_over_stays_inside(mode, tmp_path, monkeypatch):
    """As if the interpreter had been escaped: plain Python with the worker's confinement, trying its way out."""
    if mode == "fallback":
        monkeypatch.setenv("KPI_NARRATOR_SANDBOX", "none")
    monkeypatch.setenv("KPI_ATTACK_KEY", SECRET)
    target = tmp_path / "escaped.txt"
    with Listeners() as listeners:
        targets = {
            "app": str(ROOT / "app.py"),
            "file": str(target),
            "tcp": listeners.tcp_port,
            "udp": listeners.udp_port,
        }
        worker = worker_pool.launch(python_args=["-c", HOSTILE_PROGRAM, "{scratch}", json.dumps(targets)])
        try:
            worker.process.wait(60)
        finally:
            worker.kill()
        log = Path(worker.scratch, "worker.log").read_text()
        worker_pool.discard(worker)
    outcome = json.loads(log.strip().splitlines()[-1])
    assert worker.sandboxed == (mode == "bubblewrap")
    assert outcome["layers"]["seccomp"] is True
    for attack in (
        "read_passwd",
        "read_app_source",
        "read_parent_environ",
        "write_outside",
        "tcp",
        "udp",
        "signal_parent",
        "fork",
        "shell",
    ):
        assert outcome[attack].startswith("refused"), (attack, outcome[attack])
    assert outcome["write_scratch"] == "done: 2"
    assert SECRET not in outcome["own_environ"] and "KPI_ATTACK_KEY" not in outcome["own_environ"]
    if mode == "bubblewrap":
        assert outcome["uid"] == f"done: {bubblewrap.SANDBOX_UID}"  # not root
    assert not target.exists()
    assert listeners.received == []


EVIL_PICKLE = b"cos\nsystem\n(S'touch {target}'\ntR."  # pickle protocol 0: os.system('touch ...')

RAW_FRAMES_PROGRAM = r"""
import socket, struct, sys, time
from agent.sandbox import worker_pool
sock = socket.socket(fileno=int(sys.argv[1]))
ready = b'{"kind": "ready", "id": null}'
sock.sendall(struct.pack(">Q", len(ready)) + ready)
sock.recv(1 << 20)  # the app's request
payload = bytes.fromhex(sys.argv[2])
if payload == b"huge":
    sock.sendall(struct.pack(">Q", 300 * 1024**2) + b"x" * 65536)  # claims 300 MB, then stalls
else:
    sock.sendall(struct.pack(">Q", len(payload)) + payload)
time.sleep(60)
"""
RAW_PAYLOADS = {
    "pickle": EVIL_PICKLE,
    "300 MB": b"huge",
    "out of turn": b'{"kind": "done", "id": 999, "output": "out of turn", "final": true, "logs": ""}',
    "nested 10,000 deep": b'{"kind": "done", "id": 1, "output": '
    + b"[" * 10_000
    + b"]" * 10_000
    + b', "final": true}',
}


def test_raw_frames_from_the_worker_are_refused_unread_and_unrun(tmp_path, revenue_dataset):
    """The worker's end of the socket, written to directly: the app never unpickles, never grows, never obeys.

    Each payload ends the step with "cannot accept" (a 300 MB claim read or waited for would end it with "ran
    longer than 5 s" instead), and the run goes on in a fresh worker that still has the data.
    """
    target = tmp_path / "unpickled"
    executor = ProcessExecutor(step_timeout=5)
    try:
        executor.send_variables({"df": revenue_dataset.frame})
        for name, payload in RAW_PAYLOADS.items():
            data = payload.replace(b"{target}", str(target).encode())
            executor.replace_worker(
                worker_pool.launch(python_args=["-c", RAW_FRAMES_PROGRAM, "{fd}", data.hex()])
            )
            with pytest.raises(InterpreterError, match="sent a reply the app cannot accept") as refused:
                executor("x = 1")
            assert "Variables from earlier steps were kept" in str(refused.value), name
            assert not target.exists(), name
            assert executor("print(len(df))").logs.strip() == "6", name  # a fresh worker, with the data
    finally:
        executor.cleanup()


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps({"kind": "done", "id": 1, "output": 1, "final": True}),
        struct.pack(">Q", 5),
        b'{"kind": "done", "id": 1, "output": NaN, "final": true}',
        b'{"kind": "exec", "id": 1}',
        b'{"kind": "done", "id": 1, "output": 1, "final": "yes"}',
        b'{"kind": "done", "id": 1, "output": 1, "final": true, "figures": ["<script>"]}',
        b'{"kind": "done", "id": "1", "output": 1, "final": true}',
        b"\xff\xfe",
    ],
    ids=[
        "pickle",
        "binary",
        "NaN",
        "unknown kind",
        "final not bool",
        "figure not a dict",
        "id not int",
        "not utf-8",
    ],
)
def test_replies_outside_the_schema_are_refused(data):
    from agent.sandbox.protocol import ProtocolError, parse_reply

    with pytest.raises(ProtocolError):
        parse_reply(data)


def test_lone_surrogates_in_a_reply_become_replacement_characters():
    from agent.sandbox.protocol import parse_reply

    reply = parse_reply(
        b'{"kind": "done", "id": 1, "output": {"a\\ud800": ["\\udc00"]}, "final": true, "logs": "\\ud83d"}'
    )
    assert reply["output"] == {"a\ufffd\ufffd\ufffd": ["\ufffd\ufffd\ufffd"]}
    assert reply["logs"].encode("utf-8")  # printable and storable


def test_tool_calls_run_in_the_worker_and_repeated_dimensions_cost_nothing(revenue_dataset):
    """A hostile tool call (`top_slices` with one dimension 3,000 times) is cut to size and run in the worker."""
    from agent.models.build import ModelChoice, build_model
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events

    replies = [
        {
            "content": "",
            "tool_calls": [
                {"name": "top_slices", "arguments": {"metric": "revenue", "dimensions": ["country"] * 3000}}
            ],
        },
        {
            "content": "",
            "tool_calls": [
                {
                    "name": "top_slices",
                    "arguments": {"metric": "revenue", "dimensions": [f"d{i}" for i in range(9)]},
                }
            ],
        },
        {
            "content": "",
            "tool_calls": [
                {"name": "change_chart", "arguments": {"metric": "revenue", "dimension": "country"}}
            ],
        },
        {"content": "", "tool_calls": [{"name": "final_answer", "arguments": {"answer": "France fell."}}]},
    ]
    with ScriptedChatServer(replies) as server:
        model = build_model(
            ModelChoice("openai/test-model", api_base=server.url, api_key=SECRET), "tool-calling"
        )
        started = time.process_time()
        result = collect(
            run_events(RunRequest(revenue_dataset, agent="tool-calling", step_timeout=10), model)
        )
        app_cpu = time.process_time() - started
    assert result.status == "success"
    assert "France" in result.steps[0]["observation"]  # one dimension, answered
    assert "no dimension 'd0'" in (result.steps[1]["error"] or "")  # not a column: refused before any work
    assert len(result.charts) == 1  # drawn in the worker, sent back as plain JSON
    assert app_cpu < 5  # the app itself did not do the work (generous: LiteLLM and the agent loop run here)


def test_a_replay_that_hangs_is_given_up_and_the_model_told(revenue_dataset, scripted_model):
    """After a kill, replaying a step that now hangs stops the replay; the run goes on and names what is gone."""
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events

    class ClockedModel(scripted_model):
        """Step 2's code is written when it is asked for: quick now, hanging when replayed a second later."""

        def generate(self, messages, *args, **kwargs):
            if len(self.calls) == 1:
                turns_bad = time.time() + 1.0  # the next step hangs for 2 s first
                self.outputs[0] = self.outputs[0].replace("TURNS_BAD", repr(turns_bad))
            return super().generate(messages, *args, **kwargs)

    model = ClockedModel(
        [
            "Thought: Totals.\n<code>\ntotals = metric_totals(df, metric='revenue')\n</code>",
            "Thought: Keep.\n<code>\nimport time\nkept = 5\nif time.time() > TURNS_BAD:\n    sum(range(10**13))\n</code>",
            "Thought: Brute force.\n<code>\nsum(range(10**13))\n</code>",
            "Thought: Go on.\n<code>\nfinal_answer(f\"{totals['abs_change']:,.2f}\")\n</code>",
        ]
    )
    result = collect(run_events(RunRequest(revenue_dataset, step_timeout=2.0), model))
    error = result.steps[2]["error"]
    assert "ran longer than 2 s" in error and "replaying stopped" in error
    assert "Variables now gone: `kept`" in error  # step 1's `totals` was replayed and kept
    assert result.narrative == "-132,919.66" and result.status == "success"


@pytest.mark.parametrize(
    ("reply", "sentence"),
    [
        ({"status": 401, "error": f"Incorrect API key provided: {SECRET}"}, "refused the API key"),
        ({"status": 404, "error": f"model not found; internal note {SECRET}"}, "does not know the model"),
        ({"status": 429, "error": f"Rate limit for key {SECRET}"}, "kept rate-limiting"),
        (
            {"status": 500, "error": f"Traceback (most recent call last): key={SECRET} /srv/app/secret.py"},
            "HTTP 500",
        ),
    ],
    ids=["bad key", "unknown model", "rate limit", "anything else"],
)
def test_provider_error_bodies_are_reduced_to_one_sentence(revenue_dataset, reply, sentence):
    from agent.models.build import NarratorLiteLLMModel
    from agent.run.result import collect
    from agent.run.runner import RunRequest, run_events

    with ScriptedChatServer([reply] * 4) as server:
        model = NarratorLiteLLMModel(
            "openai/test-model", api_base=server.url, api_key=SECRET, retry_wait=0.01
        )
        result = collect(run_events(RunRequest(revenue_dataset, executor="local"), model))
    assert result.status == "error" and sentence in result.error
    assert "\n" not in result.error and "Traceback" not in result.error and "secret.py" not in result.error
    assert SECRET not in json.dumps(result.to_json())


def test_a_key_with_a_trailing_newline_is_refused_by_name_not_shown(revenue_file):
    env = {**os.environ, "KPI_ATTACK_KEY": SECRET + "\n", "PYTHONPATH": str(ROOT)}
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "run",
            str(revenue_file),
            "--model",
            "openai/test-model",
            "--api-base",
            "http://127.0.0.1:9/v1",
            "--api-key-env",
            "KPI_ATTACK_KEY",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert process.returncode == 2
    assert "The API key in KPI_ATTACK_KEY has a space or line break" in process.stderr
    assert SECRET not in process.stdout + process.stderr


def test_the_page_with_a_hostile_api_base_keeps_everything_inside(tmp_path):
    """The API-base case in the page: a visitor's model server answers with hostile code."""
    from streamlit.testing.v1 import AppTest

    outside = tmp_path / "outside"
    outside.mkdir()
    with Listeners() as listeners:
        replies = [
            step("print('{0.__init__.__globals__[__builtins__]}'.format(df))"),
            step("t = df.style.env.from_string(\"{{ cycler.__init__.__globals__.os.popen('id').read() }}\")"),
            step(f"df.to_parquet('{outside}/written.parquet')"),
            step("import pandas as pd\nprint(pd.read_csv('/etc/passwd', sep='|', header=None).to_string())"),
            step(f"import pandas as pd\npd.read_csv('http://127.0.0.1:{listeners.tcp_port}/x.csv')"),
            # twice: the claim check sends the wrong answer back once, the second stands, flagged
            step("final_answer('Revenue fell 7.67%, and Narnia drove 100.00% of the change.')"),
            step("final_answer('Revenue fell 7.67%, and Narnia drove 100.00% of the change.')"),
        ]
        with ScriptedChatServer(replies) as server:
            app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
            app.selectbox(key="model_pick").set_value("Other LiteLLM model…").run()
            app.text_input(key="model_id").set_value("openai/test-model")
            app.text_input(key="api_base").set_value(server.url)
            app.text_input(key="api_key").set_value(SECRET)
            app.select_slider(key="max_steps").set_value(len(replies))
            app.button(key="run_button").click().run()
            run = app.session_state["run"]
            assert run.wait_idle(120)
            app.run()
    assert not app.exception
    assert listeners.received == []
    assert not (outside / "written.parquet").exists()
    result = run.result
    assert len(result.steps) == len(replies) and all(step["error"] for step in result.steps[:-1])
    assert [m["text"] for m in result.verification["mismatches"]] == ["100.00%"]
    shown = json.dumps(
        [
            str(element.value)
            for kind in ("markdown", "caption", "code", "error", "warning", "text")
            for element in getattr(app, kind)
        ]
    )
    for secret in (SECRET, PASSWD_LINE, APP_SOURCE_LINE):
        assert secret not in shown and secret not in json.dumps(result.to_json())
    assert any(
        worker_pool.sandbox_status() == element.value
        for element in [*app.sidebar.caption, *app.sidebar.warning]
    )


def test_without_bubblewrap_the_cli_says_so(revenue_file, monkeypatch):
    env = {**os.environ, "KPI_NARRATOR_SANDBOX": "none", "PYTHONPATH": str(ROOT)}
    process = subprocess.run(
        [sys.executable, "-m", "agent", "run", str(revenue_file), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    result = json.loads(process.stdout)
    assert result["status"] == "success"
    assert any(w.startswith("Sandbox off (KPI_NARRATOR_SANDBOX=none)") for w in result["warnings"])
    monkeypatch.setattr(bubblewrap, "executable", lambda: None)
    bubblewrap.probe.cache_clear()
    try:
        assert not bubblewrap.available()
        assert bubblewrap.status().startswith("Weaker sandbox: bubblewrap (bwrap) is not installed")
    finally:
        bubblewrap.probe.cache_clear()
