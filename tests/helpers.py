"""Helpers shared by the test modules: the repository root, the small revenue file, the CLI as a subprocess,
the scripted LLM replies, and a guard that fails on any connection leaving the machine.

Test modules import from here (and from the loopback servers tests/openai_server.py and tests/streamlit_server.py),
never from one another, so each test module can run alone and in any order.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

REVENUE_TSV = (
    "country\trevenue_before\trevenue_after\n"
    "other\t632767.39\t637000.48\n"
    "UK\t481409.27\t477033.02\n"
    "France\t240704.63\t107857.06\n"
    "Germany\t160469.75\t159778.76\n"
    "Italy\t120352.31\t121331.46\n"
    "Spain\t96281.86\t96064.77\n"
)


def run_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """Runs `python -m agent *args` from the repository root and returns the finished process (text output)."""
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": str(ROOT)}
    process = subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    if check:
        assert process.returncode == 0, process.stderr
    return process


def run_python(code: str) -> Any:
    """Runs `python -c code` from the repository root in a fresh interpreter (for process-wide state: imports, the
    garbage collector) and returns the JSON its last output line holds."""
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- a two-step LLM run, scripted for tests/openai_server.py ------------------------------------------------

SECRET = "sk-test-" + "Q7vLr2mXp9" * 3  # an API key that must never show up in any output

COMPUTE = {
    "content": "Thought: Totals first.\n<code>\ntotals = metric_totals(df, metric='revenue')\nprint(totals)\n</code>"
}
ANSWER = {
    "content": "Thought: Write it.\n<code>\nfinal_answer(f\"Revenue fell {abs(totals['pct_change']):.2f}% "
    "({totals['abs_change']:+,.2f}).\")\n</code>"
}


def llm(server: Any, key: str | None = SECRET) -> Any:
    """The LiteLLM model of the app, pointed at a ScriptedChatServer."""
    from agent.models.build import ModelChoice, build_model

    return build_model(ModelChoice("openai/test-model", api_base=server.url, api_key=key))


# ---- no traffic off the machine -------------------------------------------------------------------------------


class OffMachineConnection(AssertionError):
    """Code under test tried to reach an address that is not this machine."""


def _is_loopback(family: int, address: Any) -> bool:
    if family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@contextmanager
def network_guard() -> Iterator[list[str]]:
    """Refuses, in this process, every connect, send and name lookup aimed anywhere but loopback.

    Yields the list of refused attempts (each also raised as OffMachineConnection where it happened, so code
    that swallows the error still leaves a record): a test asserts the list is empty. Child processes are not
    covered; the code worker has its own network block (see tests/test_attacks.py).
    """
    refused: list[str] = []
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any, what: str) -> None:
        if not _is_loopback(sock.family, address):
            refused.append(f"{what} {address!r}")
            raise OffMachineConnection(f"{what} to {address!r}: tests stay on 127.0.0.1")

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        check(sock, address, "connect")
        return connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address, "connect")
        return connect_ex(sock, address)

    def guarded_sendto(sock: socket.socket, data: bytes, *args: Any) -> int:
        check(sock, args[-1], "sendto")
        return sendto(sock, data, *args)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(socket.AF_INET, name):
            refused.append(f"lookup {name!r}")
            raise OffMachineConnection(f"name lookup of {name!r}: tests stay on 127.0.0.1")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = guarded_connect, guarded_connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = guarded_sendto  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo
    try:
        yield refused
    finally:
        socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
        socket.socket.sendto = sendto  # type: ignore[method-assign]
        socket.getaddrinfo = getaddrinfo
