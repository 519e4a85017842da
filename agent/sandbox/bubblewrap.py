"""Running the code worker inside bubblewrap (`bwrap`), the sandbox Flatpak uses.

The worker sees a file system of its own: the Python runtime and its site-packages, this project's `agent` and
`tools` packages, the system libraries (read-only), a private `/tmp` and `/scratch` (size-capped tmpfs), a fresh
`/proc` and `/dev` -- no `/etc`, no home folder, no other project files, no `/usr/bin` (so no shell). It has its
own user (not root), PID, network (nothing but a loopback that is down), IPC, UTS and cgroup namespaces, a new
session (no terminal to inject into), an empty environment, and it dies with the app. Inside, the worker adds
rlimits, Landlock, a seccomp filter and the interpreter's own guards (agent.sandbox.process).

Where `bwrap` is missing or cannot start (macOS, containers without user namespaces), `status()` says so and the
worker runs as a plain child process with those inner layers only.
Standard library only.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from agent.settings import ENVIRONMENT_DEFAULTS, PROJECT_ROOT

SANDBOX_ROOT = "/app"  # where the project's packages appear inside
SCRATCH = "/scratch"
SCRATCH_BYTES = 512 * 1024**2
SANDBOX_UID = 65534  # "nobody": the worker is not root inside the sandbox
_PROBE_TIMEOUT_S = 20.0


def executable() -> str | None:
    """The bwrap program, if installed."""
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None
    )


def _python_paths() -> list[str]:
    """Folders the interpreter needs: its prefix (standard library) and every site-packages on sys.path."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with_key = sysconfig.get_paths().get(key)
        if with_key:
            paths.add(with_key)
    paths.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    found = sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})
    # A folder inside another one on the list is bound with it already; never bind the root or a home as such.
    kept = [p for p in found if not any(p != q and p.startswith(q + os.sep) for q in found)]
    return [p for p in kept if p not in ("/", "/usr", "/home", str(Path.home()), str(PROJECT_ROOT))]


def _library_paths() -> list[str]:
    """System library folders (the C library, libstdc++ ...), never /usr/bin or /etc."""
    return [
        p
        for p in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/lib", "/lib64")
        if os.path.isdir(p) and not os.path.islink(p)
    ]


def _usr_links() -> list[str]:
    """Merged-/usr systems have /lib -> usr/lib: the same links inside."""
    args = []
    for name in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
    return args


@functools.cache
def _options() -> str:
    """bwrap's own list of options (older releases lack --disable-userns and --size)."""
    try:
        done = subprocess.run([executable() or "bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def _if_supported(option: str, *args: str) -> list[str]:
    return [option, *args] if option in _options() else []


def command(argv: list[str], env: dict[str, str]) -> list[str]:
    """The bwrap command line that runs `argv` (a Python command) confined, with exactly `env`."""
    bwrap = executable()
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    args = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        *_if_supported("--disable-userns"),
    ]
    # The private folders first: a bind below may lie inside one of them (a venv in /tmp) and must stay visible.
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *_if_supported("--size", str(64 * 1024**2)),
        "--tmpfs",
        "/tmp",
        *_if_supported("--size", str(SCRATCH_BYTES)),
        "--tmpfs",
        SCRATCH,
    ]
    for path in _library_paths():
        args += ["--ro-bind", path, path]
    args += _usr_links()
    for path in _python_paths():
        args += ["--ro-bind", path, path]
    # The interpreter as the app runs it (a venv's bin/python finds its pyvenv.cfg by this path), and the program
    # that path leads to: bound as single files when outside the folders above (never all of /usr/bin).
    python = os.path.abspath(sys.executable)
    for path in dict.fromkeys([python, os.path.realpath(python)]):
        if not any(path.startswith(p + os.sep) for p in _python_paths()):
            args += ["--ro-bind", os.path.realpath(path), path]
    # Only the two packages the worker imports; not the app, the tests, .streamlit/secrets.toml or the data.
    for package in ("agent", "tools"):
        args += ["--ro-bind", str(PROJECT_ROOT / package), f"{SANDBOX_ROOT}/{package}"]
    args += ["--chdir", SCRATCH]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return [*args, python, *argv[1:]] if argv and argv[0] == sys.executable else [*args, *argv]


def environment() -> dict[str, str]:
    """The worker's whole environment inside the sandbox: no variable of the app's (no API key)."""
    return {
        "PATH": "/nonexistent",
        "HOME": SCRATCH,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": SANDBOX_ROOT,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "MPLCONFIGDIR": "/tmp",
        **ENVIRONMENT_DEFAULTS,
    }


@functools.cache
def probe() -> str | None:
    """None when bwrap can run Python here; otherwise a short reason it cannot. Checked once per process."""
    if sys.platform != "linux":
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if executable() is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        # -S: no site start-up (20 of a bare Python's 26 ms here), on the two cores the first worker and the app
        # are importing on.
        done = subprocess.run(
            command([sys.executable, "-I", "-S", "-c", "import os; print(os.getuid())"], environment()),
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not start ({type(error).__name__})"
    if done.returncode != 0 or done.stdout.strip() != str(SANDBOX_UID).encode():
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap could not start: {reason[-1][:200] if reason else f'exit {done.returncode}'}"
    return None


def available() -> bool:
    """Whether workers run inside bubblewrap (the setting KPI_NARRATOR_SANDBOX=none turns it off)."""
    return worth_trying() and probe() is None


def worth_trying() -> bool:
    """Whether bubblewrap may work here, before `probe()` has run: Linux, bwrap installed, not turned off."""
    if os.environ.get("KPI_NARRATOR_SANDBOX", "").strip().lower() in ("none", "off", "0"):
        return False
    return sys.platform == "linux" and executable() is not None


def probed() -> bool:
    """Whether `probe()` has run in this process (its answer is then free)."""
    return probe.cache_info().currsize > 0


def status() -> str:
    """One sentence for the page and the CLI: how the agent's code is confined here."""
    if os.environ.get("KPI_NARRATOR_SANDBOX", "").strip().lower() in ("none", "off", "0"):
        return (
            "Sandbox off (KPI_NARRATOR_SANDBOX=none): the agent's code runs in a plain worker process with "
            "Landlock, seccomp and the interpreter's guards only."
        )
    reason = probe()
    if reason is None:
        return (
            "The agent's code runs inside bubblewrap: no network, no files outside its scratch folder, "
            "no secrets, not root."
        )
    return (
        f"Weaker sandbox: {reason}, so the agent's code runs in a plain worker process with Landlock, "
        "seccomp and the interpreter's guards only. Install bubblewrap (apt-get install bubblewrap)."
    )


def start_cost_s(repeats: int = 3) -> float:
    """Seconds bwrap adds to starting a Python process (median of `repeats`), for the README's figure."""

    def timed(argv: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        return time.perf_counter() - started

    plain = [sys.executable, "-I", "-c", "pass"]
    bare = sorted(timed(plain) for _ in range(repeats))[repeats // 2]
    boxed = sorted(timed(command(plain, environment())) for _ in range(repeats))[repeats // 2]
    return boxed - bare
