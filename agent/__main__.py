"""`python -m agent`: see `agent.cli`."""

import atexit
import os
import sys

_exit_code = [1]


def _leave_without_teardown() -> None:
    """The last exit handler: flush and leave, skipping the interpreter's teardown of every module it imported,
    0.16 s of a 1.1 s sample run (issue 19) that frees nothing the operating system does not free at exit."""
    code = _exit_code[0]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `| head` closed the pipe before the end: the output is not whole (as agent.cli)
        code = code or 1
    except OSError:  # a full disk: the output is cut, so the exit code must say so (as Python's own does)
        code = code or 120
    finally:
        os._exit(code)


atexit.register(_leave_without_teardown)  # registered first, so it runs after every other exit handler

from agent import light_imports  # noqa: E402

# The CLI imports smolagents on one thread: the modules it never uses can stand in meanwhile (65 ms less).
light_imports.install(stand_in_modules=True)

from agent.cli import main  # noqa: E402

try:
    _exit_code[0] = main()
except SystemExit as stop:  # argparse: --help (0) and usage errors (2)
    _exit_code[0] = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    raise
sys.exit(_exit_code[0])
